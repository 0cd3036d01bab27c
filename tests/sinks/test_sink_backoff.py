"""Backoff delays and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from streams.sinks.backoff import Backoff, parse_retry_after


def test_the_ceiling_grows_exponentially_and_stops_at_the_maximum() -> None:
    backoff = Backoff(base=0.5, multiplier=2, maximum=5, jitter=0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.ceiling(10_000) == 5.0


def test_without_jitter_the_delay_is_the_ceiling() -> None:
    backoff = Backoff(base=0.2, multiplier=3, maximum=30, jitter=0)
    assert backoff.delay(3, random.Random(1)) == pytest.approx(1.8)


@pytest.mark.parametrize("jitter", [0.25, 0.5, 1.0])
def test_jitter_keeps_each_delay_between_its_share_and_the_ceiling(jitter: float) -> None:
    backoff = Backoff(base=1, multiplier=2, maximum=60, jitter=jitter)
    rng = random.Random(7)
    for attempt in range(1, 8):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling * (1 - jitter) <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling * jitter * 0.5


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff().ceiling(0)


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(42)


def test_retry_after_in_the_past_means_now() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now - timedelta(minutes=5), usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "-3", "1.5", "soon", "Mon, 99 Foo 2026"])
def test_absent_or_malformed_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None
