"""What every HTTP call to one target passes just before it goes out: the rate the sink allows itself
(streams/sinks/rate.py) and the target's ``Retry-After``. Shared by all of an adapter's calls: searches,
lookups, batch calls and parts count like the route's own call.

Calls over the rate wait in line and go out one at a time, at least ``1/rate`` apart (no burst: a target that
counts calls in a sliding window sees no more than the rate in any second). When a ``Retry-After`` hold ends the
waiting calls go at the (lowered) rate, not all at once. With no rate (no setting, no throttled answer yet) a
call passes at once: two comparisons and a count.

Waiting calls go in the order of their command's position (:data:`COMMAND_POSITION`, the order the worker
fetched the records), not in the order they came: a command already started goes before commands not started,
so an older command's next call (the create after its search, a ``then:`` step, a part) overtakes the first
calls of newer ones, the oldest commands finish first and the partition's committed offset moves steadily. In
order of arrival, a new user's sink at ISTHMUS_SINK_CONCURRENCY=1024 to an API taking 60 calls a minute queued
every command's search before any create: 3 minutes of searches and no POST, and no offset committed in 274 s,
so each restart redid every command. The connection slots of the HTTP adapter (:class:`Slots`) hand out the
same order.

The target's gate (streams/sinks/gate.py) holds whole commands on ``Retry-After`` and keeps the circuit
breaker; this holds the calls of commands already past it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from streams.sinks.rate import AdaptiveRate

log = logging.getLogger("isthmus.sink")

#: The answers that say "less traffic": 429 always, 503 when it carries ``Retry-After``.
TOO_MANY_REQUESTS = 429
UNAVAILABLE = 503
THROTTLING_STATUSES = (TOO_MANY_REQUESTS, UNAVAILABLE)
#: The most often the sink says it is being throttled, seconds.
LOG_EVERY_S = 10.0
#: The position of the command a call is for, set by the deliverer for the command's task: the lower goes first.
#: Calls outside a command (none set) go after every command's, in the order they came.
COMMAND_POSITION: ContextVar[float] = ContextVar("isthmus_command_position", default=math.inf)
#: Set by the deliverer for a command whose last failure was judged its own (streams/sinks/retrying.py): its
#: answers asking to wait (a 503 or 429 with ``Retry-After`` about that one record: "not there yet") are not the
#: target asking for less traffic, so they hold no other call and lower no rate; the command alone waits.
ALONE_NOW: ContextVar[bool] = ContextVar("isthmus_command_failing_alone", default=False)


class Turns:
    """Calls waiting for their turn, the lowest :data:`COMMAND_POSITION` first (of one position, the first come)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    def join(self) -> asyncio.Future[None]:
        """The turn of a call of the current command, to await."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (COMMAND_POSITION.get(), next(self._arrivals), turn))
        return turn

    def pop(self) -> asyncio.Future[None] | None:
        """The first call still waiting (its caller not cancelled), taken out of the line; None: nobody waits."""
        while self._heap:
            turn = heapq.heappop(self._heap)[2]
            if not turn.done():
                return turn
        return None

    def __bool__(self) -> bool:
        while self._heap and self._heap[0][2].done():  # cancelled while it waited
            heapq.heappop(self._heap)
        return bool(self._heap)

    def __len__(self) -> int:
        return sum(not turn.done() for _, _, turn in self._heap)

    def cancel(self) -> int:
        """Cancel every waiting call (the sink stops); returns how many waited."""
        waiting = [turn for _, _, turn in self._heap if not turn.done()]
        for turn in waiting:
            turn.cancel()
        self._heap.clear()
        return len(waiting)


class Slots:
    """At most ``size`` calls at once (an adapter's connections), the waiting ones let in as :class:`Turns`
    orders them."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._turns = Turns()

    async def __aenter__(self) -> None:
        if self.free > 0 and not self._turns:
            self.free -= 1
            return
        turn = self._turns.join()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed the slot as it was cancelled: pass it on
                self._release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        turn = self._turns.pop()
        if turn is None:
            self.free += 1
        else:
            turn.set_result(None)


class RequestThrottle:
    def __init__(self, *, ceiling: float | None = None, name: str = "target", target_file: str = "the target file",
                 retry_after_max_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.control = AdaptiveRate(ceiling=ceiling)
        self.name = name
        self.target_file = target_file
        self.retry_after_max_s = retry_after_max_s
        self.clock = clock
        #: No call before this (``Retry-After``), nor before ``next_at`` (the rate's spacing).
        self.not_before = 0.0
        self.next_at = 0.0
        #: Throttling answers by status (429, and 503 with ``Retry-After``).
        self.answers: dict[int, int] = dict.fromkeys(THROTTLING_STATUSES, 0)
        #: Timeouts taken for an overload (each lowered the rate).
        self.timeouts = 0
        self._waiting = Turns()
        self._timer: asyncio.TimerHandle | None = None
        self._unsaid: dict[int, int] = dict.fromkeys(THROTTLING_STATUSES, 0)
        self._said_at: float | None = None
        self.stopping = False

    @classmethod
    def for_target(cls, path: Path, system: str, ceiling: float | None, *,
                   retry_after_max_s: float = 300.0) -> RequestThrottle:
        return cls(ceiling=ceiling, name=f"sink {system}", target_file=str(path), retry_after_max_s=retry_after_max_s)

    @property
    def rate(self) -> float | None:
        """Calls a second allowed now; None: no limit."""
        return self.control.rate

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn now."""
        return len(self._waiting)

    def stop(self) -> int:
        """The sink stops (SIGTERM): the calls waiting for their turn (a Retry-After hold, the rate) are cancelled
        and none goes out from now; returns how many waited. A call already out goes on."""
        self.stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self._waiting.cancel()

    async def acquire(self) -> float:
        """Wait for this call's turn; the time it goes, to hand back to :meth:`answered`."""
        if self.stopping:
            raise asyncio.CancelledError("the sink is stopping")
        now = self.clock()
        if not self._waiting and now >= self.not_before and now >= self.next_at:
            rate = self.control.rate
            if rate is not None:
                self.next_at = now + 1.0 / rate
            self.control.sending(now)
            return now
        turn = self._waiting.join()
        self._arm(now)
        await turn
        now = self.clock()
        self.control.sending(now)
        return now

    def answered(self, started: float, status: int, retry_after: float | None) -> None:
        """The target answered the call that went at ``started`` with ``status`` (and ``Retry-After``)."""
        if status == TOO_MANY_REQUESTS or (status == UNAVAILABLE and retry_after is not None):
            if not ALONE_NOW.get():
                self._throttled(started, status, retry_after)
        elif status < 500 and self.control.succeeded(self.clock(), started):
            log.info("%s: the target took %.0f calls a second without throttling; the sink no longer limits its "
                     "rate%s", self.name, self.control.accepted.per_second(self.clock()), self._ceiling_text())

    def timed_out(self, started: float) -> None:
        """The call that went at ``started`` got no answer in time. While the target answers other calls that is an
        overload (a slow server with a few threads and a queue of the sink's calls): the rate comes down as for a
        503 with ``Retry-After``, and grows back as calls succeed. While it answers none, an outage: the circuit
        breaker's business, the rate stays."""
        now = self.clock()
        if self.control.throttled(now, started, overload_only=True):
            self.timeouts += 1
            log.warning("%s: calls time out while the target answers others: it is overloaded; calls to it now go "
                        "out at most %.1f a second (lowered at each such timeout, raised as calls succeed; "
                        "isthmus_sink_rate_limit)", self.name, self.control.rate or 0.0)

    def _throttled(self, started: float, status: int, retry_after: float | None) -> None:
        now = self.clock()
        self.answers[status] += 1
        self._unsaid[status] += 1
        if retry_after is not None:
            self.not_before = max(self.not_before, now + min(retry_after, self.retry_after_max_s))
        self.control.throttled(now, started, overload_only=status == UNAVAILABLE)
        if self._said_at is None or now - self._said_at >= LOG_EVERY_S:
            self._say(now)

    def _say(self, now: float) -> None:
        counted = ", ".join(f"{n} answer{'s' if n != 1 else ''} {status}" for status, n in self._unsaid.items() if n)
        since = "so far" if self._said_at is None else f"in the last {now - self._said_at:.0f} s"
        rate = self.control.rate
        ceiling = self.control.ceiling
        if ceiling is not None:
            fix = (f"limits.requests_per_second in {self.target_file} is {ceiling:g}, more than the target takes: "
                   "lower it to a little under the rate its API allows")
        else:
            fix = f"set limits.requests_per_second in {self.target_file} to a little under the rate its API allows"
        log.warning("%s: the target is throttling the sink: %s %s; calls to it now go out at most %s a second "
                    "(lowered at each throttling answer, raised as calls succeed; isthmus_sink_throttled_total, "
                    "isthmus_sink_rate_limit). Fix: %s", self.name, counted, since,
                    "without limit" if rate is None else f"{rate:.1f}", fix)
        self._said_at = now
        self._unsaid = dict.fromkeys(THROTTLING_STATUSES, 0)

    def _ceiling_text(self) -> str:
        ceiling = self.control.ceiling
        return "" if ceiling is None else f" below limits.requests_per_second ({ceiling:g})"

    def _arm(self, now: float) -> None:
        if self._timer is None and self._waiting:
            delay = max(self.not_before, self.next_at) - now
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._release)

    def _release(self) -> None:
        """Let the first waiting call go when its turn has come (all of them when no rate applies)."""
        self._timer = None
        now = self.clock()
        while now >= self.not_before and now >= self.next_at and (turn := self._waiting.pop()) is not None:
            turn.set_result(None)
            rate = self.control.rate
            if rate is not None:
                self.next_at = now + 1.0 / rate
        self._arm(now)


def throttle_of(adapter: object) -> RequestThrottle | None:
    """The throttle an HTTP-borne adapter paces its calls with (its ``throttle``); None for others (sql)."""
    throttle = getattr(adapter, "throttle", None)
    return throttle if isinstance(throttle, RequestThrottle) else None


def throttle_text(throttle: RequestThrottle | None) -> str:
    """The throttle's part of the sink's summary line: ``; throttled to 14.0 calls/s (37 answers 429)``."""
    if throttle is None or (throttle.rate is None and not any(throttle.answers.values())):
        return ""
    counted = ", ".join(f"{n} answer{'s' if n != 1 else ''} {status}" for status, n in throttle.answers.items() if n)
    rate = "no rate limit" if throttle.rate is None else f"at most {throttle.rate:.1f} calls/s"
    return f"; {rate}" + (f" (throttled: {counted})" if counted else "")
