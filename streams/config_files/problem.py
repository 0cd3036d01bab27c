"""One thing wrong with a config file, as every config loader reports it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


def shown(path: Path) -> str:
    """A path as the user should read it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Where (file, line), which field, what is wrong and the fix: ``file:line: field: message; fix: fix``.
    ``line`` is None for a problem about no one line (a folder, a rendered connector config); ``field`` is None
    for one about the whole file. Each loader raises its own error type carrying a list of these."""

    file: Path
    line: int | None
    field: str | None
    message: str
    fix: str
    #: ``isthmus`` for our own checks; an outside validator's name (``connect`` for Kafka Connect's) otherwise.
    found_by: str = "isthmus"

    def __str__(self) -> str:
        where = f"{shown(self.file)}:{self.line}" if self.line else shown(self.file)
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}; fix: {self.fix}"

    def to_json(self, *, field_key: str = "field") -> dict[str, Any]:
        """``field_key``: the name the field goes under (connector problems have always shown it as ``key``)."""
        return {"file": shown(self.file), "line": self.line, field_key: self.field, "message": self.message,
                "fix": self.fix, "found_by": self.found_by}
