"""The rate a sink allows itself to a target (streams/sinks/rate.py): every step with time given, no sleeping."""

from __future__ import annotations

import pytest

from streams.sinks.rate import DECREASE, MIN_RATE, SETTLE_S, AdaptiveRate, TrailingCount

pytestmark = pytest.mark.unit


def burst(rate: AdaptiveRate, *, sent: int, accepted: int, at: float) -> None:
    """``sent`` calls at ``at``, of which the target took ``accepted`` (answered before its refusals)."""
    for _ in range(sent):
        rate.sending(at)
    for _ in range(accepted):
        rate.succeeded(at, at)


def test_the_trailing_count_weighs_the_previous_second_by_its_share_still_inside() -> None:
    count = TrailingCount()
    for _ in range(10):
        count.add(100.0)
    assert count.per_second(100.5) == 10
    assert count.per_second(101.25) == pytest.approx(7.5)  # the previous second's 10, three quarters inside
    count.add(101.5)
    assert count.per_second(101.5) == pytest.approx(6.0)
    assert count.per_second(104.0) == 0  # nothing for two seconds


def test_no_limit_until_the_target_throttles() -> None:
    rate = AdaptiveRate()
    burst(rate, sent=500, accepted=500, at=10.0)
    assert rate.rate is None and rate.cuts == 0


def test_the_first_429_sets_the_rate_below_what_the_target_let_through() -> None:
    rate = AdaptiveRate()
    burst(rate, sent=500, accepted=20, at=10.0)
    assert rate.throttled(10.01, 10.0)
    assert rate.rate == pytest.approx(20 * DECREASE)
    assert not rate.throttled(10.02, 10.0), "the burst's other refusals are the same crossing of the limit"
    assert rate.rate == pytest.approx(20 * DECREASE) and rate.cuts == 1


def test_successes_of_the_crossing_burst_answered_after_its_first_refusal_still_count() -> None:
    rate = AdaptiveRate()
    for _ in range(500):
        rate.sending(10.0)
    assert rate.throttled(10.01, 10.0)  # the refusal came back first: nothing accepted yet
    assert rate.rate == MIN_RATE
    for _ in range(20):
        rate.succeeded(10.02, 10.0)
    assert rate.rate == pytest.approx(20 * DECREASE)


def test_a_later_429_cuts_the_rate_again_only_for_a_call_sent_after_the_target_settled() -> None:
    rate = AdaptiveRate(ceiling=None)
    burst(rate, sent=100, accepted=20, at=10.0)
    rate.throttled(10.0, 10.0)
    assert not rate.throttled(10.5, 10.0 + SETTLE_S / 2)
    assert rate.throttled(12.0, 11.5)
    assert rate.rate == pytest.approx(20 * DECREASE * DECREASE) and rate.cuts == 2


def test_successes_raise_the_rate_by_about_one_call_a_second_each_second_near_the_refused_rate() -> None:
    rate = AdaptiveRate()
    burst(rate, sent=100, accepted=20, at=10.0)
    rate.throttled(10.0, 10.0)
    now = 11.0
    for _ in range(14):  # one second of calls at 14 a second
        now += 1 / 14
        rate.succeeded(now, now)
    assert rate.rate == pytest.approx(15.0, abs=0.05)


def test_many_cuts_are_grown_out_of_faster_and_the_limit_ends_past_the_rate_first_cut() -> None:
    rate = AdaptiveRate()
    burst(rate, sent=50, accepted=50, at=10.0)
    rate.throttled(10.0, 10.0)
    now = 10.0
    for _ in range(10):  # a 429 storm: everything refused
        now += SETTLE_S
        rate.throttled(now, now)
    assert rate.rate == MIN_RATE
    calls = 0
    while rate.rate is not None:
        now += 1 / rate.rate
        ended = rate.succeeded(now, now)
        calls += 1
    assert ended and calls < 400, f"{calls} successes to grow from {MIN_RATE} back to 50 calls a second"


def test_the_files_rate_is_a_ceiling_and_a_429_at_it_goes_below() -> None:
    rate = AdaptiveRate(ceiling=18.0)
    assert rate.rate == 18.0
    burst(rate, sent=18, accepted=18, at=10.0)
    rate.throttled(10.0, 10.0)
    assert rate.rate == pytest.approx(18 * DECREASE)
    now = 11.0
    while rate.adaptive is not None:
        now += 1 / (rate.rate or 1)
        rate.succeeded(now, now)
    assert rate.rate == 18.0


def test_a_503_lowers_the_rate_only_while_other_calls_get_through() -> None:
    outage = AdaptiveRate()
    burst(outage, sent=10, accepted=0, at=10.0)
    assert not outage.throttled(10.0, 10.0, overload_only=True), "an outage is the circuit breaker's business"
    assert outage.rate is None
    overload = AdaptiveRate()
    burst(overload, sent=40, accepted=30, at=10.0)
    assert overload.throttled(10.0, 10.0, overload_only=True)
    assert overload.rate == pytest.approx(30 * DECREASE)


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="above 0"):
        AdaptiveRate(ceiling=0)
