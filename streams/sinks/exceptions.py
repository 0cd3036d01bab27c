"""Every failure of a sink worker, its target configs and its dead-letter tools, one class each."""

from __future__ import annotations

from collections.abc import Sequence

from streams.config.exceptions import RuntimeConfigError
from streams.config_files.problem import Problem
from streams.errors import IsthmusError
from streams.kafka.topics import KafkaUnavailable

__all__ = ["KafkaUnavailable"]


class SinkError(IsthmusError):
    """A sink worker or a dead-letter command could not do what was asked."""


class TargetConfigError(SinkError):
    """A target file (targets/<system>.yaml) is missing, unreadable or invalid; the message lists every problem,
    ``problems`` holds them (file, line, field and fix) when the file could be read."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class SinkSettingsError(SinkError, RuntimeConfigError):
    """A sink setting from the environment is not valid."""


class SecretMissing(SinkError):
    """A target's auth needs a secret that neither its environment variable nor the secrets file holds."""


class WorkerFenced(SinkError):
    """Another worker for the same target started with the same transactional id and took over."""


class ConnectionLost(SinkError):
    """A SQL target's connection failed as a connection (the server closed it, restarted, a network reset), so every
    pooled connection to that database was dropped with it; the message says what happened."""


class TargetUnreachable(SinkError):
    """The target's server could not be reached when the worker started (or ``isthmus sink --check`` tried it)."""


class DeadLetterNotFound(SinkError):
    """No record at that partition and offset of the dead-letter topic."""


class DeadLetterUnreadable(SinkError):
    """A dead-letter record does not decode as a DeadLetter."""


class DeadLetterNotReplayable(SinkError):
    """A dead letter that does not keep its original value (too large for it) cannot be replayed as stored."""



class UnknownAdapter(TargetConfigError):
    """A target file names an adapter that no installed plugin registers, or whose plugin cannot be loaded."""
