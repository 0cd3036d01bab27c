"""Failures of the systems configuration (``systems/*.yaml``)."""

from __future__ import annotations

from streams.config_files.problem import Problem
from streams.errors import IsthmusError


class SystemConfigError(IsthmusError):
    """A system file is invalid, or a name refers to no system; ``problems`` lists each with file, line, field
    and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"systems refused ({count}):\n  " + "\n  ".join(str(p) for p in problems))


class UnknownSystem(IsthmusError, KeyError):
    """A name that no ``systems/<name>.yaml`` declares."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown system"


class NotCaptured(IsthmusError):
    """A capture-side value (topics, namespace, commit times) asked of a write-only system (``capture: none``)."""
