"""Failures of the mapping engine: a mapping file that cannot be used, or a row it cannot map."""

from __future__ import annotations

from streams.config_files.problem import Problem
from streams.errors import IsthmusError

__all__ = ["ColumnsMissing", "ExpressionError", "LookupMissing", "MappingError", "MappingLoadError",
           "MappingValueError", "NotANumber", "Problem"]


class MappingError(IsthmusError):
    """A mapping could not be loaded or applied."""


class MappingLoadError(MappingError):
    """A mapping file is invalid; ``problems`` lists every problem found, each with file, line, field and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"mapping refused ({count}):\n  " + "\n  ".join(str(p) for p in problems))


class MappingValueError(MappingError):
    """A source value cannot be mapped (no prefix to strip, a status with no mapping, a skipped local time)."""


class LookupMissing(MappingValueError):
    """A required cross-reference entry does not exist (yet): the change can be retried once it does."""


class ExpressionError(MappingValueError):
    """A computed field's expression failed on a row (e.g. arithmetic on a null)."""


class NotANumber(MappingValueError):
    """NaN or an infinity where a decimal is wanted: no decimal field holds one, though a PostgreSQL NUMERIC does
    (:func:`streams.mapping.decimals.not_a_number` says so, and what to do). ``value``: as it came."""

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class ColumnsMissing(MappingValueError):
    """A change lacks a column its mapping reads: the source table's schema changed (a column renamed or dropped)."""
