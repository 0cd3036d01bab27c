"""The stack the benchmarks run on: the one ISTHMUS_* points at, started (only what is missing) if need be.

Like the test harness, a stack the run started is stopped at its end unless ISTHMUS_KEEP_STACK=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from streams.stack.manager import StackManager
from streams.stack.running import RunningStack
from streams.stack.settings import StackSettings


@contextmanager
def bench_stack() -> Iterator[RunningStack]:
    manager = StackManager(StackSettings.from_env())
    started = manager.up()
    try:
        yield manager.running()
    finally:
        if started and os.environ.get("ISTHMUS_KEEP_STACK") != "1":
            manager.down()
