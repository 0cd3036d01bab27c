"""The one way tests wait: ``eventually`` polls a probe until it gives a value, and fails naming what it waited
for (with whatever the caller says about the state it left behind: process logs, records seen) when it does not.

A probe returns its finding, or None (or False) while there is none yet; the finding is returned, so a test
waits for and gets the thing it then asserts on. ``quiet`` is the drain check: it waits until a measure
stops changing, for the tests that must show nothing more arrives (a duplicate, a loop) rather than guess a
sleep long enough for it to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _failure(what: str, timeout: float, context: Callable[[], str] | None, last: object = None) -> AssertionError:
    detail = context() if context is not None else ""
    seen = f" (last: {last!r})" if isinstance(last, BaseException) else ""
    return AssertionError(f"{what}: not within {timeout:.0f} s{seen}" + (f"\n{detail}" if detail else ""))


def log_tails(logs: Path) -> Callable[[], str]:
    """The tail of each process log (``*.log``) in the folder ``logs``, as a failure's context."""
    return lambda: "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))


def eventually(what: str, probe: Callable[[], T | None], logs: Path | None = None, *, timeout: float = 120,
               every: float = 0.5, context: Callable[[], str] | None = None,
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """``probe()``'s first truthy value, tried every ``every`` seconds for ``timeout`` seconds; else an
    AssertionError naming ``what`` and the state left behind: the tails of the process logs in the folder
    ``logs``, or ``context()`` (read only then). ``probe`` may assert, to fail at once (a process that exited);
    an exception of a type in ``ignoring`` (a service still starting) counts as "not yet"."""
    if context is None and logs is not None:
        context = log_tails(logs)
    deadline = time.monotonic() + timeout
    while True:
        last: object = None
        try:
            last = found = probe()
        except ignoring as exc:
            last, found = exc, None
        if found:
            return found
        if time.monotonic() > deadline:
            raise _failure(what, timeout, context, last)
        time.sleep(every)


async def eventually_async(what: str, probe: Callable[[], Awaitable[T | None]], *, timeout: float = 120,
                           every: float = 0.5, context: Callable[[], str] | None = None) -> T:
    """``eventually`` inside an event loop: ``probe`` is awaited, the pauses let the loop run."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise _failure(what, timeout, context)
        await asyncio.sleep(every)


def quiet(what: str, measure: Callable[[], T], *, settle: float, timeout: float = 120, every: float = 0.5,
          context: Callable[[], str] | None = None) -> T:
    """The value of ``measure()`` once it has not changed for ``settle`` seconds (a drained topic, a fixed
    point of a pipeline's output), within ``timeout``; else an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    last = measure()
    since = time.monotonic()
    while True:
        if time.monotonic() - since >= settle:
            return last
        if time.monotonic() > deadline:
            raise _failure(what, timeout, context)
        time.sleep(every)
        now = measure()
        if now != last:
            last, since = now, time.monotonic()
