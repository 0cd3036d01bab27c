"""Retry delays: exponential backoff with jitter, and the server's ``Retry-After``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """``base * multiplier**(attempt-1)``, capped at ``maximum``; ``jitter`` is the random share of it.

    With jitter j a delay d becomes uniform in ``[d*(1-j), d]``: j=0 is plain exponential backoff, j=1 is
    "full jitter". Some randomness keeps many entities that failed together from retrying in lockstep.
    """

    base: float = 0.2
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.5

    def ceiling(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (1 = after the first failure), without jitter."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        exponent = min(attempt - 1, 64)
        return float(min(self.maximum, self.base * self.multiplier ** exponent))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(attempt)
        draw = (rng or random).random()
        return ceiling * (1 - self.jitter) + ceiling * self.jitter * draw


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; None when absent or bad.

    A date in the past means "now" (0). A negative or non-numeric delta is ignored (None), as RFC 9110 asks.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
