"""The circuit breaker's states: closed, open after N failures, one half-open probe, closed or open again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.sinks.breaker import BreakerState, CircuitBreaker
from streams.sinks.gate import TargetGate


def test_closed_lets_every_call_through_and_counts_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=3, reset_s=10)
    breaker.failure(0)
    breaker.failure(1)
    assert breaker.state is BreakerState.CLOSED and breaker.permit(1).allowed
    breaker.success()
    breaker.failure(2)
    breaker.failure(3)
    assert breaker.state is BreakerState.CLOSED, "a success in between resets the count"


def test_opens_after_threshold_failures_and_says_how_long_to_wait() -> None:
    breaker = CircuitBreaker(threshold=3, reset_s=10)
    for t in range(3):
        breaker.failure(t)
    assert breaker.state is BreakerState.OPEN
    permit = breaker.permit(5)
    assert not permit.allowed and permit.wait == pytest.approx(7)


def test_after_the_reset_time_exactly_one_probe_goes_out() -> None:
    breaker = CircuitBreaker(threshold=1, reset_s=10)
    breaker.failure(0)
    first = breaker.permit(10)
    assert first.allowed and first.probe and breaker.state is BreakerState.HALF_OPEN
    second = breaker.permit(10.5)
    assert not second.allowed and second.wait > 0


def test_a_successful_probe_closes_it() -> None:
    breaker = CircuitBreaker(threshold=1, reset_s=10)
    breaker.failure(0)
    breaker.permit(10)
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.permit(10).allowed


def test_a_failed_probe_opens_it_again_for_a_full_reset_time() -> None:
    breaker = CircuitBreaker(threshold=2, reset_s=10)
    breaker.failure(0)
    breaker.failure(0)
    breaker.permit(10)
    breaker.failure(11)
    assert breaker.state is BreakerState.OPEN and breaker.opened_count == 2
    assert breaker.permit(20).wait == pytest.approx(1)


def test_an_abandoned_probe_lets_another_caller_probe() -> None:
    breaker = CircuitBreaker(threshold=1, reset_s=1)
    breaker.failure(0)
    assert breaker.permit(1).probe
    breaker.abandon_probe()
    assert breaker.permit(1).probe


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0, reset_s=1)


def test_the_gate_holds_calls_for_retry_after_and_wakes_waiters_on_success() -> None:
    now = [100.0]

    async def scenario() -> list[str]:
        gate = TargetGate(CircuitBreaker(threshold=1, reset_s=0.05), clock=lambda: now[0])
        gate.hold(5)
        assert gate.not_before == pytest.approx(105)
        gate.hold(1)
        assert gate.not_before == pytest.approx(105), "a shorter hold never shortens a longer one"
        now[0] = 106
        assert await gate.enter() is False
        gate.failure()
        now[0] = 106.1
        probe = await gate.enter()
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0.01)
        events = ["probe" if probe else "call", "waiting" if not waiter.done() else "through"]
        gate.success()
        await asyncio.wait_for(waiter, 1)
        events.append("through")
        return events

    assert asyncio.run(scenario()) == ["probe", "waiting", "through"]


def test_the_probe_rotates_among_the_waiting_calls() -> None:
    """Each prober fails and comes straight back: the next probe goes to the call that waited longest, never to
    the one that just failed while others wait (before, whichever call's timer fired first took it)."""

    async def scenario() -> list[str]:
        gate = TargetGate(CircuitBreaker(threshold=1, reset_s=0.01))
        gate.failure("down")
        probers: list[str] = []

        async def call(name: str) -> None:
            while len(probers) < 12:
                probe = await gate.enter()
                assert probe, "the breaker never closes here: every call is a probe"
                probers.append(name)
                await asyncio.sleep(0.001)
                gate.failure("still down")

        calls = [asyncio.create_task(call(name)) for name in "PQR"]
        await asyncio.wait_for(asyncio.gather(*calls), 5)
        return probers[:12]

    assert asyncio.run(scenario()) == list("PQR" * 4)


def test_a_long_outage_is_said_when_it_starts_changes_each_minute_and_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    """A probe fails every 5 s for 10 minutes: the opening, a line a minute, the new reason at once, the closing
    with how long it lasted; not 120 lines of the same words."""
    now = [0.0]
    gate = TargetGate(CircuitBreaker(threshold=2, reset_s=5), clock=lambda: now[0], name="sink billing")
    down = "MariaDB db:3306/billing: could not connect (MariaDB down or restarting?): (2003, 'port 3306'); all {n} " \
           "pooled connections dropped; reconnecting"
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        gate.failure(down.format(n=4))
        gate.failure(down.format(n=3))
        for probe in range(1, 121):
            now[0] = 5.0 * probe
            assert gate.breaker.permit(now[0]).probe
            gate.failure(down.format(n=probe % 3) if probe != 90 else "MariaDB db:3306/billing: read-only")
        now[0] = 610.0
        assert gate.breaker.permit(now[0]).probe
        gate.success()
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("sink billing: circuit breaker open for 5 s after 2 consecutive failures: MariaDB ")
    assert said[-1] == "sink billing: circuit breaker closed: the target answers again after 610 s (120 failed probes)"
    still = said[1:-1]
    assert len(still) <= 14, still
    assert "sink billing: circuit breaker still open, 12 probes failed over 60 s (one every 5 s): MariaDB " \
           "db:3306/billing: could not connect" in still[0]
    assert any(line.endswith("90 probes failed over 450 s (one every 5 s): MariaDB db:3306/billing: read-only")
               for line in still), "a new reason is said at once"
    assert any(" 91 probes failed over 455 s " in line for line in still), "and the old one again when it returns"
