"""Errors of the metrics endpoints."""

from __future__ import annotations

from streams.errors import IsthmusError


class MetricsError(IsthmusError):
    """A process cannot serve its /metrics."""


class MetricsPortUnavailable(MetricsError):
    """The port a process's /metrics was given cannot be bound (in use, or not allowed)."""
