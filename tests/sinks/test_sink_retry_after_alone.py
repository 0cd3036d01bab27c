"""A command answered 503 (or 429) with ``Retry-After`` again and again while the target applies the others.

A new user's API answered one command ``PUT /vendors/S-000202/persons`` with ``503 {"error": "vendor S-000202
does not exist (yet)"}`` and ``Retry-After: 2``, every time, while it applied the rest. An answer with
``Retry-After`` was never a command's own failure: each counted toward the circuit breaker, each held every call
to the target and lowered the sink's rate (to 1 call a second), and once ISTHMUS_SINK_MAX_IN_FLIGHT records were
uncommitted only that command was tried: nothing was applied for 17 minutes, and it was never dead-lettered. Now
such a command fails alone like any other (streams/sinks/retrying.py), holds nobody and is dead-lettered
``FailingAlone`` with the target's words; a target overloaded for everyone still holds everyone. And reaching
the in-flight bound behind a retrying command is said, once, and counted.

The real HTTP adapter (throttle), deliverer, gate and breaker against an ``httpx.MockTransport`` target; the
in-flight bound through the offline worker of test_sink_failing_alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support.metrics import parse, scrape, value

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import BreakerState, CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.delivery import FAILING_ALONE, Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.metrics import sink_registry
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand
from streams.sinks.retrying import Retries
from streams.sinks.throttle import RequestThrottle
from tests.sinks.test_sink_failing_alone import POISONED, POISONED_CREATE, UNKNOWN, Sink, Target, accounts

pytestmark = pytest.mark.unit

STUCK = "C-LEDGER-0202"
NOT_YET = f"account {STUCK} does not exist (yet)"
#: The sink's cap on a Retry-After (ISTHMUS_SINK_RETRY_AFTER_MAX_S), small so the test is quick; the target asks 2 s.
CAP = 0.2
TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PUT
    path: /ledger/{crm_customer_number}/persons
    body: {name: name}
"""


def update(number: str) -> SinkCommand:
    return SinkCommand(command_id=f"u-{number}", idempotency_key=f"k-{number}", target="erp", operation="update",
                       entity_type="Account", entity_key=number, payload_type="isthmus.canonical.Account",
                       payload={"crm_customer_number": number, "name": f"Customer {number}"})


class Ledger:
    """The target: answers ``answer(key)`` (None: applied) and records when each key was called."""

    def __init__(self, answer: Callable[[str], httpx.Response | None]) -> None:
        self.answer = answer
        self.calls: list[tuple[float, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.split("/")[2]
        self.calls.append((time.monotonic(), key))
        return self.answer(key) or httpx.Response(200, json={"account": key})

    def times(self, key: str) -> list[float]:
        return [at for at, called in self.calls if called == key]


def unavailable(error: str) -> httpx.Response:
    return httpx.Response(503, headers={"Retry-After": "2"}, json={"error": error})


def deliverer(tmp_path: Path, ledger: Ledger, *, alone_attempts: int, alone_s: float) -> Deliverer:
    path = tmp_path / "erp.yaml"
    path.write_text(TARGET, encoding="utf-8")
    config = load_target(path)
    adapter = HttpAdapter(config, base_url="http://ledger.test", timeout_s=5, max_connections=8, env={},
                          secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(ledger),
                          throttle=RequestThrottle.for_target(path, "erp", None, retry_after_max_s=CAP))
    return Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=5, reset_s=0.2), name="sink erp"),
                     config=config, policy=RetryPolicy(backoff=Backoff(base=0.01, maximum=0.05, jitter=0),
                                                       retry_after_max_s=CAP, alone_attempts=alone_attempts,
                                                       alone_s=alone_s))


def test_a_command_answered_503_with_retry_after_alone_is_dead_lettered_while_the_others_are_applied(
        tmp_path: Path) -> None:
    ledger = Ledger(lambda key: unavailable(NOT_YET) if key == STUCK else None)
    sink = deliverer(tmp_path, ledger, alone_attempts=3, alone_s=0.6)

    async def run() -> tuple[Delivered | None, list[Delivered]]:
        stuck = asyncio.create_task(sink.deliver(update(STUCK)))
        others = []
        for index in range(60):  # the target applies others all along, 1.2 s
            others.append(asyncio.create_task(sink.deliver(update(f"C-{index:06d}"))))
            await asyncio.sleep(0.02)
        done, _ = await asyncio.wait([stuck], timeout=5)
        if not done:
            for task in (stuck, *others):
                task.cancel()
        applied = await asyncio.gather(*others, return_exceptions=True)
        await asyncio.gather(stuck, return_exceptions=True)
        await sink.adapter.close()
        return (stuck.result() if done else None), [a for a in applied if isinstance(a, Delivered)]

    delivered, others = asyncio.run(run())
    assert delivered is not None, ("never dead-lettered: its 503s with Retry-After were taken for the target's "
                                   f"({len(ledger.times(STUCK))} attempts)")
    failed = delivered.outcome
    assert isinstance(failed, Failed) and failed.error_type == FAILING_ALONE, failed
    assert failed.reason.startswith("failed alone: ") and NOT_YET in failed.reason, "the target's own words"
    assert "503" in failed.reason and delivered.attempts >= 3
    assert len(others) == 60 and all(isinstance(d.outcome, Applied) for d in others)
    gate, throttle = sink.gate, sink.adapter.throttle  # type: ignore[attr-defined]
    assert gate.breaker.opened_count == 0 and gate.state is BreakerState.CLOSED
    last = ledger.times(STUCK)[-1]
    assert gate.not_before < last and throttle.not_before < last, "once alone, its answers held no other call"
    assert throttle.answers[503] == 1, "only its first answer (nothing known yet) was taken for throttling"


def test_a_target_overloaded_for_everyone_still_holds_everyone_and_dead_letters_nothing(tmp_path: Path) -> None:
    """Every call answered 503 with Retry-After for 0.5 s: no command is applied meanwhile, so no failure is
    anyone's own even at the strictest bounds; each answer holds every call; then all are applied."""
    overloaded = True
    ledger = Ledger(lambda key: unavailable("overloaded") if overloaded else None)
    sink = deliverer(tmp_path, ledger, alone_attempts=1, alone_s=0)

    async def run() -> list[Delivered]:
        nonlocal overloaded
        deliveries = asyncio.gather(*(sink.deliver(update(f"C-{index:06d}")) for index in range(30)))
        await asyncio.sleep(0.5)
        overloaded = False
        delivered = await asyncio.wait_for(deliveries, timeout=10)
        await sink.adapter.close()
        return delivered

    delivered = asyncio.run(run())
    assert all(isinstance(d.outcome, Applied) for d in delivered), [d.outcome for d in delivered]
    assert sink.retrying.failing_alone == 0 and sink.adapter.throttle.answers[503] >= 2  # type: ignore[attr-defined]
    assert len(ledger.calls) < 60, "held: a few calls during the overload, not each command's every retry"
    first = ledger.calls[0][0]
    held = [at for at, _ in ledger.calls if first + 0.03 < at < first + CAP - 0.03]
    assert held == [], "a call went out during the first Retry-After hold"


def test_others_429s_count_against_a_429_being_a_commands_own() -> None:
    """Under a rate limit, commands are applied while others are answered 429: a command's 429 is its own only
    when the commands applied outnumber the other commands' failures and 429s since its first."""
    retries = Retries()
    cmd = update("C-1")
    mine, other = retries.token(), retries.token()
    retries.failed(mine, cmd, now=0, attempts=1, reason="429", throttled=True, asks_to_wait=True)
    retries.success()
    retries.failed(other, cmd, now=1, attempts=1, reason="429", throttled=True, asks_to_wait=True)
    assert not retries.failed(mine, cmd, now=2, attempts=2, reason="429", throttled=True,
                              asks_to_wait=True).last_alone, "1 applied, 1 other 429"
    assert retries.failed(mine, cmd, now=3, attempts=3, reason="x").last_alone, "429s are no failure of the others"
    retries.success()
    assert retries.failed(mine, cmd, now=4, attempts=4, reason="429", throttled=True, asks_to_wait=True).last_alone


class _Consumer:
    def assignment(self) -> set[object]:
        return set()

    def pause(self, *_: object) -> None: ...

    def resume(self, *_: object) -> None: ...


def test_the_in_flight_bound_reached_behind_a_retrying_command_is_said_once_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    """The first command of the partition retries; the 9 behind it are applied and wait to commit, which fills the
    in-flight bound (10): fetching pauses and only the commands in hand are tried. That is said at WARNING once,
    naming the command and what to do, and counted, however often the worker looks."""
    target = Target(poisoned={POISONED})

    async def run() -> Sink:
        sink = Sink(target, {"ISTHMUS_SINK_MAX_IN_FLIGHT": "10", "ISTHMUS_SINK_CONCURRENCY": "4",
                             "ISTHMUS_SINK_FAILING_ALONE_S": "60"})
        sink.worker._consumer = _Consumer()  # type: ignore[assignment]
        sink.feed([POISONED_CREATE, *accounts("H", 9)])
        for _ in range(500):
            if sink.worker.stats.applied == 9 and sink.worker.deliverer.retrying.count == 1:
                break
            await asyncio.sleep(0.01)
        for _ in range(5):
            sink.worker._backpressure()
            await asyncio.sleep(0.01)
        await sink.stop()
        return sink

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        sink = asyncio.run(run())
    said = [r.getMessage() for r in caplog.records if "the in-flight bound" in r.getMessage()]
    assert len(said) == 1 and sink.worker.stats.held_back == 1, said
    [line] = said
    assert "10 records fetched and not committed, the in-flight bound (ISTHMUS_SINK_MAX_IN_FLIGHT)" in line
    assert f"partition 0 waits for offset 0, Account {POISONED} (create {POISONED_CREATE['command_id']})" in line
    assert UNKNOWN in line and "ISTHMUS_SINK_TRANSIENT_DEADLINE_S (unset: never)" in line
    assert "isthmus topics dlq replay" in line
    assert value(parse(scrape(sink_registry(sink.worker))), "isthmus_sink_held_back_total", target="erp") == 1
