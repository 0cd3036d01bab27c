"""How many calls a second the sink allows itself to one target: the target file's ``limits.requests_per_second``
as a ceiling, and below it a rate that the target's throttling lowers and its successes raise again.

no limit --throttled answer--> DECREASE x the rate the target let through in the last second
limited  --throttled answer to a call sent SETTLE_S or more after the last cut--> DECREASE x the rate
limited  --a success--> about MIN_STEP calls a second more each second near the rate the last cut lowered
                        (additive, so the sink stays under the target's limit for long), GROWTH of the rate more
                        each second far below it (after many cuts) or past it (the target now takes more)
limited  --grown to the rate it sent at when first cut (or to the ceiling)--> no limit of its own

A throttled answer is a 429, or a 503 with ``Retry-After`` while the target answers other calls (an overload);
a 503 while nothing gets through is an outage, the circuit breaker's business (streams/sinks/breaker.py).
Calls sent before the last cut, or within SETTLE_S after it (a target counts its refusals in a window about a
second long, so they are refused too), do not cut again: one cut per crossing of the target's limit.

Pure: time comes from the caller, so every step is unit-tested without sleeping.
"""

from __future__ import annotations

import math

#: The lowest rate the sink throttles itself to, calls a second (a longer pause comes from ``Retry-After``).
MIN_RATE = 1.0
#: The share of its rate the sink keeps after a throttled answer.
DECREASE = 0.7
#: How much faster the sink goes each second its calls succeed, as a share of its rate, and at least MIN_STEP.
GROWTH = 0.2
MIN_STEP = 1.0
#: Throttled answers to calls sent this soon after a cut are taken as the same crossing of the limit.
SETTLE_S = 1.0


class TrailingCount:
    """Events in the trailing second, estimated from two one-second buckets: the current one, and the previous
    one weighted by the share of it still inside the second (two integers, whatever the rate)."""

    __slots__ = ("_current", "_previous", "_start")

    def __init__(self) -> None:
        self._start = -math.inf
        self._current = 0
        self._previous = 0

    def add(self, now: float) -> None:
        if now - self._start >= 1.0:
            self._roll(now)
        self._current += 1

    def per_second(self, now: float) -> float:
        if now - self._start >= 1.0:
            self._roll(now)
        return self._previous * (1.0 - (now - self._start)) + self._current

    def _roll(self, now: float) -> None:
        if now - self._start < 2.0:
            self._previous, self._start = self._current, self._start + 1.0
        else:
            self._previous, self._start = 0, now
        self._current = 0


class AdaptiveRate:
    def __init__(self, *, ceiling: float | None = None) -> None:
        if ceiling is not None and not ceiling > 0:
            raise ValueError(f"ceiling must be above 0 calls a second, got {ceiling}")
        #: The target file's ``limits.requests_per_second``; None: none.
        self.ceiling = ceiling
        #: The rate the target's throttling taught the sink; None: none yet (or grown out of).
        self.adaptive: float | None = None
        #: When the rate was last cut, and the rate the cut lowered (about what the target takes).
        self.cut_at = -math.inf
        self.cut_from = math.inf
        self.cuts = 0
        self._free_at = math.inf
        self._sending_at_cut = -math.inf
        self.sent = TrailingCount()
        self.accepted = TrailingCount()

    @property
    def rate(self) -> float | None:
        """Calls a second allowed now; None: no limit."""
        if self.adaptive is None:
            return self.ceiling
        return self.adaptive if self.ceiling is None else min(self.adaptive, self.ceiling)

    def sending(self, now: float) -> None:
        self.sent.add(now)

    def throttled(self, now: float, started: float, *, overload_only: bool = False) -> bool:
        """A throttled answer to a call sent at ``started``; True when it lowered the rate. ``overload_only``
        (a 503): lower it only while other calls get through."""
        if started < self.cut_at + SETTLE_S:
            return False
        accepted = self.accepted.per_second(now)
        if overload_only and accepted < 1.0:
            return False
        if self.adaptive is None:
            sending = self.rate if self.rate is not None else self.sent.per_second(now)
            self._free_at = self.ceiling if self.ceiling is not None else max(sending, MIN_RATE)
            self._sending_at_cut = sending
            self.cut_from = min(sending, accepted)
        else:
            self._sending_at_cut = -math.inf
            self.cut_from = self.rate or MIN_RATE
        self.adaptive = max(MIN_RATE, self.cut_from * DECREASE)
        self.cut_at = now
        self.cuts += 1
        return True

    def succeeded(self, now: float, started: float) -> bool:
        """An answer that was not throttled, to a call sent at ``started``; True when it ended the sink's own
        limit (grown back to the rate it was first cut from)."""
        self.accepted.add(now)
        adaptive = self.adaptive
        if adaptive is None:
            return False
        if started < self.cut_at:
            if now < self.cut_at + SETTLE_S:
                self._late_success(now, adaptive)
            return False
        if DECREASE * self.cut_from <= adaptive < self.cut_from:
            adaptive += MIN_STEP / adaptive  # near the rate that was refused: about one call a second more a second
        else:
            adaptive += max(MIN_STEP, adaptive * GROWTH) / adaptive  # far below it, or past it: faster
        if adaptive >= self._free_at:
            self.adaptive = None
            return True
        self.adaptive = adaptive
        return False

    def _late_success(self, now: float, adaptive: float) -> None:
        """A success of the burst that first crossed the limit, answered after its first refusal (the refusal
        came back sooner): the target let it through too, so the rate it takes is that much higher."""
        took = min(self._sending_at_cut, self.accepted.per_second(now))
        if took > self.cut_from:
            self.cut_from = took
            self.adaptive = max(adaptive, took * DECREASE)
