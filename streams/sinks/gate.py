"""What every call to one target passes through: the server's ``Retry-After`` hold and the circuit breaker.

A 429 or 503 with ``Retry-After: S`` holds every call to the target for S seconds, not just the retry of the
call that got it: the server spoke about the client, not about one request. Unless the command that got it fails
alone (streams/sinks/retrying.py: the target applies the others meanwhile): then it spoke about that one record
("not there yet"), and the deliverer holds nobody else for it. The calls of commands already past
the gate wait in the adapter's throttle (streams/sinks/throttle.py), which also paces them at the target's rate.

While the breaker is not closed, the calls waiting at the gate ask it in the order they came: the half-open probe
goes to the call that has waited longest. A command whose probe failed backs off and comes back behind the
others, so the probe rotates among the waiting commands and one poisoned command cannot be the probe every time
(a new user's trial saw 34 probes in a row by the same few commands while every other command was held).

An outage is said when the breaker opens, again when a failed probe fails for another reason or once every
``STILL_OPEN_EVERY_S`` with how many probes failed, and when it closes, with how long it lasted: one line per
failed probe (every ``ISTHMUS_SINK_BREAKER_RESET_S``) made 120 lines of one 10-minute database outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from streams.sinks.breaker import BreakerState, CircuitBreaker

log = logging.getLogger("isthmus.sink")

#: What holds a call at the gate (:attr:`TargetGate.held`).
BREAKER = "breaker"
RETRY_AFTER = "retry_after"
HELD_BY = (BREAKER, RETRY_AFTER)

#: While the breaker stays open for the same reason, a WARNING says so at most this often.
STILL_OPEN_EVERY_S = 60.0


@dataclass
class _Outage:
    """The breaker's time open, from its opening to its closing, and what was said of it last."""

    since: float
    said_at: float
    said: str
    failed_probes: int = 0


def _gist(reason: str) -> str:
    """A reason without its numbers (counts, ports, ids), which change from one probe to the next."""
    return re.sub(r"\d+", "#", reason)


class TargetGate:
    def __init__(self, breaker: CircuitBreaker, *, clock: Callable[[], float] = time.monotonic,
                 name: str = "target") -> None:
        self.breaker = breaker
        self.name = name
        self.clock = clock
        self.not_before = 0.0
        self._changed = asyncio.Event()
        #: Calls waiting at the gate now, by what holds them: the circuit breaker (open, or half-open with its
        #: probe out) or a Retry-After hold.
        self.held: dict[str, int] = dict.fromkeys(HELD_BY, 0)
        #: The calls in :meth:`enter` now, oldest first (see the module: who asks for the probe); ordered by links,
        #: so the oldest is found at once however many left before it (a plain dict scans their holes).
        self._entering: OrderedDict[int, None] = OrderedDict()
        self._tickets = itertools.count()
        self._outage: _Outage | None = None

    def hold(self, seconds: float) -> None:
        """No call before ``seconds`` from now (extends, never shortens, an existing hold)."""
        self.not_before = max(self.not_before, self.clock() + seconds)

    async def enter(self) -> bool:
        """Wait until a call may go out, counted in :attr:`held` while it waits; True when it is the breaker's
        half-open probe."""
        holding: str | None = None
        ticket = next(self._tickets)
        self._entering[ticket] = None
        try:
            while True:
                wait = self.not_before - self.clock()
                if wait > 0:
                    holding = self._holding(holding, RETRY_AFTER)
                    await asyncio.sleep(wait)
                    continue
                if self.breaker.state is not BreakerState.CLOSED and next(iter(self._entering)) != ticket:
                    holding = self._holding(holding, BREAKER)  # an older call asks first
                    await self._changes(min(self.breaker.reset_s, 1.0))
                    continue
                permit = self.breaker.permit(self.clock())
                if permit.allowed:
                    return permit.probe
                holding = self._holding(holding, BREAKER)
                await self._changes(permit.wait)
        finally:
            first = next(iter(self._entering)) == ticket
            del self._entering[ticket]
            if first and self._entering and self.breaker.state is not BreakerState.CLOSED:
                self._changed.set()  # the next oldest asks now
            if holding is not None:
                self.held[holding] -= 1

    async def _changes(self, timeout: float) -> None:
        """Until the breaker changes (or ``timeout`` passes). Not ``asyncio.wait_for``: on Python 3.11 it swallows a
        cancellation that comes as the event is set, and a sink's calls held at the gate then went on probing for
        over 50 s after its SIGTERM (a new user's trial, the call cancelled as another's failure woke it)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    def _holding(self, was: str | None, now: str) -> str:
        if was != now:
            if was is not None:
                self.held[was] -= 1
            self.held[now] += 1
        return now

    def success(self) -> None:
        was_closed = self.breaker.state is BreakerState.CLOSED
        self.breaker.success()
        if not was_closed:
            outage, self._outage = self._outage, None
            lasted = (f" after {self.clock() - outage.since:.0f} s ({outage.failed_probes} failed probes)"
                      if outage is not None else "")
            log.warning("%s: circuit breaker closed: the target answers again%s", self.name, lasted)
            self._changed.set()

    def failure(self, reason: str = "") -> None:
        before = self.breaker.state
        now = self.clock()
        self.breaker.failure(now)
        reason = reason or "transient failure"
        if self.breaker.state is BreakerState.OPEN and before is not BreakerState.OPEN:
            outage = self._outage
            if outage is None or before is BreakerState.CLOSED:
                self._outage = _Outage(since=now, said_at=now, said=_gist(reason))
                log.warning("%s: circuit breaker open for %g s after %s: %s", self.name, self.breaker.reset_s,
                            "a failed probe" if before is BreakerState.HALF_OPEN
                            else f"{self.breaker.failures} consecutive failures", reason)
            else:
                outage.failed_probes += 1
                if _gist(reason) != outage.said or now - outage.said_at >= STILL_OPEN_EVERY_S:
                    outage.said_at, outage.said = now, _gist(reason)
                    log.warning("%s: circuit breaker still open, %d probes failed over %.0f s (one every %g s): %s",
                                self.name, outage.failed_probes, now - outage.since, self.breaker.reset_s, reason)
                else:
                    log.debug("%s: circuit breaker open again after a failed probe: %s", self.name, reason)
        self._changed.set()

    def failed_alone(self, probe: bool) -> None:
        """A command failed alone (streams/sinks/retrying.py: the target applies other commands meanwhile), which
        says nothing about the target: the breaker does not count it, and a probe it was is handed to the next
        waiting call, so a poisoned command never holds the target by failing probe after probe."""
        self.abandon(probe)

    def abandon(self, probe: bool) -> None:
        if probe:
            self.breaker.abandon_probe()
            self._changed.set()

    @property
    def state(self) -> BreakerState:
        return self.breaker.state
