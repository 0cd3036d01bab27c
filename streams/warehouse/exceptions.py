"""Warehouse errors."""

from __future__ import annotations

from streams.errors import IsthmusError


class WarehouseError(IsthmusError):
    """The warehouse loader failed."""


class WarehouseSettingsError(WarehouseError):
    """A warehouse setting is invalid."""


class RowRejected(WarehouseError):
    """A source row broke a cleaning rule; it goes to the dead-letter topic with this reason."""
