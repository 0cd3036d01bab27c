"""Progress lines for long stack work, on stderr, with the seconds since the work began."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._quiet = quiet
        self._began = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._began

    def say(self, message: str) -> None:
        if not self._quiet:
            print(f"[{self.elapsed:6.1f}s] {message}", file=self._stream, flush=True)
