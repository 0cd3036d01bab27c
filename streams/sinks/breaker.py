"""A circuit breaker per target: after N consecutive transient failures stop calling, then probe once.

closed --N failures--> open --reset_s elapsed--> half-open (one probe call) --success--> closed
                                                                             --failure--> open

Pure: time comes from the caller, so every transition is unit-tested without sleeping. A permanent error
(a 4xx the target chose to answer) counts as the target being healthy: it resets the failure count. A transient
failure judged a command's own (streams/sinks/retrying.py: the target applies other commands meanwhile) is not
reported at all, and a probe that failed so is abandoned: another waiting call probes (TargetGate.failed_alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, kw_only=True)
class Permit:
    """The answer to "may I call now?": ``allowed``, or how long to wait before asking again."""

    allowed: bool
    wait: float = 0.0
    probe: bool = False


class CircuitBreaker:
    def __init__(self, *, threshold: int, reset_s: float) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.threshold = threshold
        self.reset_s = reset_s
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probe_out = False
        self.opened_count = 0

    def permit(self, now: float) -> Permit:
        if self.state is BreakerState.CLOSED:
            return Permit(allowed=True)
        if self.state is BreakerState.OPEN:
            remaining = self.opened_at + self.reset_s - now
            if remaining > 0:
                return Permit(allowed=False, wait=remaining)
            self.state = BreakerState.HALF_OPEN
            self.probe_out = False
        if self.probe_out:
            return Permit(allowed=False, wait=min(self.reset_s, 1.0))
        self.probe_out = True
        return Permit(allowed=True, probe=True)

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probe_out = False

    def failure(self, now: float) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self.failures += 1
        if self.state is BreakerState.CLOSED and self.failures >= self.threshold:
            self._open(now)

    def abandon_probe(self) -> None:
        """The probe call was cancelled before it answered: let another caller probe."""
        if self.state is BreakerState.HALF_OPEN:
            self.probe_out = False

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.probe_out = False
        self.opened_count += 1
