"""Errors of the runtime settings (streams/config)."""

from __future__ import annotations

from streams.errors import IsthmusError


class RuntimeConfigError(IsthmusError):
    """A runtime setting (environment, ``--config`` file or the stack's offer) is invalid or unreadable."""
