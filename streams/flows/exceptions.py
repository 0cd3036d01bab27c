"""Failures shared by every flow, whatever it does (each flow's own failures live in its package)."""

from __future__ import annotations

from streams.config_files.problem import Problem
from streams.errors import IsthmusError


class FlowUnavailable(IsthmusError):
    """A flow cannot be built from the loaded configuration (a mapping file it needs is missing): a worker
    leaves that flow out, says why once, and runs the others; ``problems``: where its flow file names what is
    missing, with the fix (empty when no one line does)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = tuple(problems or ())
        super().__init__(message)


class FlowFileError(IsthmusError):
    """A flow file (``flows/*.yaml``) is invalid; ``problems`` lists each with file, line, field and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"flow files refused ({count}):\n  " + "\n  ".join(str(p) for p in problems))
