"""A problem found in a connector config: which file, which key, what is wrong and how to fix it."""

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
    file: Path
    key: str | None
    message: str
    fix: str
    #: ``isthmus`` for our own checks, ``connect`` for Kafka Connect's validation.
    found_by: str = "isthmus"

    def __str__(self) -> str:
        where = f"{shown(self.file)}: {self.key}" if self.key else shown(self.file)
        return f"{where}: {self.message}; fix: {self.fix}"

    def to_json(self) -> dict[str, Any]:
        return {"file": shown(self.file), "key": self.key, "message": self.message, "fix": self.fix,
                "found_by": self.found_by}
