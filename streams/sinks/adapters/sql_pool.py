"""The pooled connections of a SQL target (:mod:`streams.sinks.adapters.sql`, :mod:`streams.sinks.adapters.mysql`):
which are idle, which may be used again, and which must be checked first. The bookkeeping both dialects share;
the drivers' calls stay in the adapters.

The connections to one database share its fate: when the server closes one (a restart, its sessions
terminated, a network reset), the idle ones are dead too, though none shows it until it is used. Reused one by
one, each failed a command, and behind the sink's circuit breaker (one probe every ``ISTHMUS_SINK_BREAKER_RESET_S``)
a pool of 32 took 32 probes to get through: a new user's sink failed 35 times over 3.5 minutes after a PostgreSQL
restart of 5 s, saying all along that the server was shutting down. So:

- a connection-level failure (the adapter classifies it by the driver's exception type, SQLSTATE or errno) drops
  every connection: the idle ones are closed at once, and those in use then are closed when they are given back
  (they belong to a past generation);
- an idle connection that waited longer than ``IDLE_CHECK_S`` is checked with one round trip before use, so
  the first write after a restart the sink did not see gets a fresh connection;
- the most recently used idle connection is used first, so under a steady load few wait long enough to need
  the check.

Thread-safe: the MariaDB adapter uses its pool from worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from streams.errors import exception_text

#: An idle connection unused for longer than this is checked before use (HikariCP's window is 0.5 s).
IDLE_CHECK_S = 1.0

C = TypeVar("C")


@dataclass(eq=False)
class Pooled(Generic[C]):
    """A connection of the pool, the generation it was opened in, and since when it is idle."""

    conn: C
    generation: int
    idle_since: float = 0.0


class ConnectionPool(Generic[C]):
    def __init__(self, *, idle_check_s: float = IDLE_CHECK_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_check_s = idle_check_s
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[Pooled[C]] = []
        self._generation = 0
        #: The connections open now, idle or in use, of the current generation.
        self.held = 0

    def take(self) -> tuple[Pooled[C], bool] | None:
        """The idle connection used last, and whether it must be checked before use (it waited longer than
        ``idle_check_s``); None when none is idle: open one and ``add`` it."""
        with self._lock:
            if not self._idle:
                return None
            pooled = self._idle.pop()
        return pooled, self._clock() - pooled.idle_since >= self.idle_check_s

    def add(self, conn: C) -> Pooled[C]:
        """A connection just opened, in use."""
        with self._lock:
            self.held += 1
            return Pooled(conn, self._generation)

    def give_back(self, pooled: Pooled[C]) -> bool:
        """Keep a connection that worked for its next use; False when the pool was dropped meanwhile: close it."""
        with self._lock:
            if pooled.generation != self._generation:
                return False
            pooled.idle_since = self._clock()
            self._idle.append(pooled)
            return True

    def discard(self, pooled: Pooled[C]) -> None:
        """A connection in use that failed or was dropped: the caller closes it."""
        with self._lock:
            if pooled.generation == self._generation:
                self.held -= 1

    def drop_all(self) -> tuple[list[C], int]:
        """Drop every connection: the idle ones, for the caller to close, and how many the pool held (those in use
        are closed when given back)."""
        with self._lock:
            idle, held = [p.conn for p in self._idle], self.held
            self._idle.clear()
            self._generation += 1
            self.held = 0
        return idle, held


def lost_reason(what: str, exc: BaseException, held: int) -> str:
    """A connection-level failure, as a reason: what happened (``what``, from the adapter's classification), the
    driver's words, and the pool's ``held`` connections dropped with it."""
    dropped = {0: "", 1: "; its pooled connection dropped"}.get(held, f"; all {held} pooled connections dropped")
    return f"{what}: {exception_text(exc)}{dropped}; reconnecting"
