from __future__ import annotations

from streams.errors import IsthmusError


class CaptureError(IsthmusError):
    """Connector configs or Kafka Connect could not do what was asked."""


class ConfigError(CaptureError):
    """A connector config or overlay file is missing, unreadable or malformed."""


class ConfigInvalid(CaptureError):
    """A connector config failed validation; nothing was deployed."""


class ConnectError(CaptureError):
    """Kafka Connect answered a request with an error."""


class ConnectUnreachable(ConnectError):
    """Kafka Connect's REST API could not be reached."""


class ConnectRefused(ConnectError):
    """Kafka Connect refused the login (401) or the request to its user (403)."""


class ConnectorNotFound(ConnectError):
    """Kafka Connect has no connector (or plugin) of that name."""


class ConnectConflict(ConnectError):
    """Kafka Connect was rebalancing or applying another change, and still was after retrying."""


class ConnectConfigRejected(ConnectError):
    """Kafka Connect refused a connector config."""


class ConnectTimeout(ConnectError):
    """Kafka Connect did not answer in time."""


class ConnectorFailed(CaptureError):
    """A connector or one of its tasks is FAILED; the message carries the trace."""


class ConnectorNotReady(CaptureError):
    """A connector did not reach the wanted state in time."""


class SnapshotRequestError(CaptureError):
    """An incremental snapshot could not be requested (tables not captured, or no signal table)."""


class NotificationError(CaptureError):
    """A record on a connector's notification topic is not a Debezium notification."""
