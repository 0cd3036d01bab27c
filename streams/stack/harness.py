"""The stack a test session runs against (see tests/conftest.py for the modes).

In the local mode several sessions may run at once on one stack (`make test` runs the tests with a stack or
cluster of their own in a second session beside the others): each holds a shared lock on the stack's
``run/test-sessions.lock`` while it runs; starting is done under ``run/test-start.lock``, so one session starts
what is missing and the others find it running; and the session that started the stack stops it only once it
holds the sessions' lock alone, that is, once every other session has ended.
"""

from __future__ import annotations

import fcntl
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
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.run_dir / "test-sessions.lock", "a+b") as sessions:
        fcntl.flock(sessions, fcntl.LOCK_SH)  # held while this session runs; waits while a starter stops it
        with open(settings.run_dir / "test-start.lock", "a+b") as starting:
            fcntl.flock(starting, fcntl.LOCK_EX)  # one session starts what is missing, the others find it
            started = manager.up()
        try:
            yield manager.running()
        finally:
            if started and os.environ.get("ISTHMUS_KEEP_STACK") != "1":
                fcntl.flock(sessions, fcntl.LOCK_UN)
                fcntl.flock(sessions, fcntl.LOCK_EX)  # until the sessions beside this one have ended
                manager.down()
