"""kafka-python's ERROR when a client it closes cancels the metadata request it had in flight.

kafka-python 3 refreshes a client's metadata in the background, and ``assign()`` asks for a refresh (the topics it
tracks change). Isthmus's short readers assign, read and close within a moment: the schemas read at a sink's or
worker's start (:mod:`streams.kafka.written_schemas`), the `topics` commands, the dashboard's samples. When the
refresh is still in flight at ``close()``, the closed connection fails it with ``Cancelled`` and kafka-python logs
``ERROR kafka.cluster: Metadata refresh: failed Cancelled``: nothing failed, the client was closed on purpose (a
connection is closed without an error only from this side: by ``close()``, or as idle). Waiting for the refresh
before each close would cost every read up to the client's retry backoff; so :class:`ClosedWhileRefreshing` lowers
exactly that record to DEBUG, and a broker that does not answer still fails with an error of its own (a connection
error, a timeout), which passes as it is. :func:`quiet_cancelled_refreshes` installs it once; every ``isthmus``
command does (:func:`streams.cli.main.main`).
"""

from __future__ import annotations

import logging

from streams.kafka.log_filters import install_once

#: The logger of kafka-python's cluster metadata, which logs the cancelled refresh.
CLUSTER_LOGGER = "kafka.cluster"
_REFRESH_FAILED = "Metadata refresh: failed %s"


class ClosedWhileRefreshing(logging.Filter):
    """Lowers kafka-python's ``Metadata refresh: failed Cancelled`` to DEBUG (dropped unless its logger logs DEBUG);
    every other record passes as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg != _REFRESH_FAILED or not args or type(args[0]).__name__ != "Cancelled":
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_cancelled_refreshes(logger: logging.Logger | None = None) -> ClosedWhileRefreshing:
    """Install :class:`ClosedWhileRefreshing` on kafka-python's cluster logger (or ``logger``), once: the filter."""
    return install_once(logger or logging.getLogger(CLUSTER_LOGGER), ClosedWhileRefreshing)


__all__ = ["CLUSTER_LOGGER", "ClosedWhileRefreshing", "quiet_cancelled_refreshes"]
