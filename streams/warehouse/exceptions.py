"""Warehouse errors."""

from __future__ import annotations

from streams.config.exceptions import RuntimeConfigError
from streams.config_files.problem import Problem
from streams.errors import IsthmusError


class WarehouseError(IsthmusError):
    """The warehouse loader failed."""


class WarehouseSettingsError(WarehouseError, RuntimeConfigError):
    """A warehouse setting is invalid."""


class RowRejected(WarehouseError):
    """A source row broke a cleaning rule; it goes to the dead-letter topic with this reason. ``rule``: the
    cleaning rule's name (``clean: phone``) when one refused it."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class WarehouseTablesError(WarehouseError):
    """``warehouse/tables.yaml`` is invalid; ``problems`` lists every problem, each with file, line, field and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"warehouse tables refused ({count}):\n  " + "\n  ".join(str(p) for p in problems))
