"""Failures shared by every flow, whatever it does (each flow's own failures live in its package)."""

from __future__ import annotations

from streams.errors import IsthmusError


class FlowUnavailable(IsthmusError):
    """A flow cannot be built from the loaded configuration (a mapping file it needs is missing): a worker
    leaves that flow out, says why once, and runs the others."""
