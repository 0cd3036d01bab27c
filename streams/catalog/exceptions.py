"""Failures of reading a database's catalog or a columns file (``systems/<name>.columns.yaml``)."""

from __future__ import annotations

from streams.config_files.problem import Problem
from streams.errors import IsthmusError


class CatalogError(IsthmusError):
    """A live catalog could not be read: no connection, no such schema or database, an unresolvable secret."""


class ColumnsFileError(IsthmusError):
    """A columns file is missing or invalid; ``problems`` lists each with file, line, field and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"columns file refused ({count}):\n  " + "\n  ".join(str(p) for p in problems))
