"""Errors of the chaos suite."""

from __future__ import annotations

from streams.errors import IsthmusError


class ChaosError(IsthmusError):
    """The chaos run could not be carried out (not an invariant failure: those are reported)."""


class InvalidChaosOptions(ChaosError):
    """An option of ``python -m chaos`` is out of range."""
