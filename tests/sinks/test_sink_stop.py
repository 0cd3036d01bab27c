"""SIGTERM stops a sink at once, whatever it waits for: the circuit breaker, a backoff, a ``Retry-After``, its turn
under the rate. A new user's sink, its API down and its breaker open, ignored SIGTERM for over 50 s and needed
SIGKILL: the calls held at the gate were cancelled as another failure woke them, and Python 3.11's
``asyncio.wait_for`` swallowed those cancellations, so they went on probing. Now the waits end at once, the calls
already out get the grace, what was applied is committed and the rest is redone by the next start (under the same
idempotency keys). The real worker, offline (test_sink_failing_alone's harness), and the real gate.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from streams.sinks.breaker import BreakerState, CircuitBreaker
from streams.sinks.gate import TargetGate
from tests.sinks.test_sink_commit_refused import _Producer
from tests.sinks.test_sink_failing_alone import Sink, Target, accounts

pytestmark = pytest.mark.unit


def test_sigterm_stops_a_sink_with_its_breaker_open_at_once_and_commits_what_was_applied(
        caplog: pytest.LogCaptureFixture) -> None:
    """The target applies 5 commands, then is down: 20 more retry behind the open breaker (reset 30 s). The stop
    (what SIGTERM sets) returns at once, not after the breaker's reset nor the 10 s grace, and commits the 5."""
    target = Target()

    async def run() -> tuple[Sink, float, _Producer]:
        sink = Sink(target, {"ISTHMUS_SINK_BREAKER_THRESHOLD": "2", "ISTHMUS_SINK_BREAKER_RESET_S": "30"})
        producer = _Producer(sink.worker.resolved.transactional_id)
        await producer.start()
        sink.worker._producer = producer  # type: ignore[assignment]
        sink.feed(accounts("S", 5))
        await sink.settled(timeout=5)
        target.down = True
        sink.feed(accounts("T", 20))
        for _ in range(200):
            if sink.worker.gate.state is BreakerState.OPEN and sink.worker.gate.held["breaker"] >= 19:
                break
            await asyncio.sleep(0.01)
        assert sink.worker.gate.state is BreakerState.OPEN
        began = time.monotonic()
        await asyncio.wait_for(sink.worker._shutdown(), timeout=20)
        return sink, time.monotonic() - began, producer

    with caplog.at_level(logging.INFO, logger="isthmus.sink"):
        sink, took, producer = asyncio.run(run())
    assert took < 2.0, f"the stop took {took:.1f} s"
    assert not sink.worker._tasks and sink.worker.stats.applied == 5
    assert producer.committed and producer.offsets == {sink.tp: 5}, "what was applied is committed; the rest redone"
    assert sink.worker.offsets.pending == 20
    assert any("command(s) waiting to retry or for their turn stopped at once" in r.getMessage()
               for r in caplog.records)


def test_a_call_held_at_the_gate_is_cancelled_even_as_the_breaker_changes() -> None:
    """Python 3.11's ``asyncio.wait_for`` swallows a cancellation that comes as its event is set: the calls held
    at an open breaker, cancelled as another failure woke them, went on probing after the sink's SIGTERM."""

    async def scenario() -> int:
        gate = TargetGate(CircuitBreaker(threshold=1, reset_s=60))
        gate.failure("down")
        held = [asyncio.create_task(gate.enter()) for _ in range(20)]
        await asyncio.sleep(0.05)
        gate.failure("still down")  # wakes every held call to look again
        for task in held:
            task.cancel()
        _, going_on = await asyncio.wait(held, timeout=0.5)
        for task in going_on:
            task.cancel()
        await asyncio.wait(held)
        return len(going_on)

    assert asyncio.run(scenario()) == 0
