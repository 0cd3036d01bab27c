"""The stack a test session runs against (see tests/conftest.py for the modes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from streams.stack.exceptions import StackConfigError
from streams.stack.running import RunningStack
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings

MODES = ("local", "external", "containers")


@contextmanager
def stack_for_tests(mode: str) -> Iterator[RunningStack]:
    if mode not in MODES:
        raise StackConfigError(f"ISTHMUS_STACK={mode!r} is not a stack mode; use one of {', '.join(MODES)}")
    settings = StackSettings.from_env()
    if mode == "external":
        yield RunningStack(settings, load_or_create(settings.home))
        return
    if mode == "containers":
        from streams.stack.containers import container_stack

        with container_stack(settings) as running:
            yield running
        return
    from streams.stack.manager import StackManager

    manager = StackManager(settings)
    started = manager.up()
    try:
        yield manager.running()
    finally:
        if started and os.environ.get("ISTHMUS_KEEP_STACK") != "1":
            manager.down()
