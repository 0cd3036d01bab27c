"""One command's delivery: retries on transient failures, Retry-After, conflicts, permanent refusals, the
deadline. The adapter is scripted (no target): this is the retry logic alone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

from streams.sinks.backoff import Backoff
from streams.sinks.breaker import BreakerState, CircuitBreaker
from streams.sinks.config.model import HttpRoute, OnConflict, TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

COMMAND = SinkCommand(command_id="c1", idempotency_key="k1", target="erp", operation="create", entity_type="t",
                      entity_key="C-000001", payload_type="isthmus.canonical.Account", payload={})
OK = Applied(status=201, body={"account_id": 1})


def transient(retry_after: float | None = None) -> Failed:
    return Failed(kind="transient", reason="503", status=503, retry_after=retry_after)


class Scripted:
    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def attempt(self, command: SinkCommand) -> Attempt:
        self.calls += 1
        return self.answers.pop(0)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> str:
        return "scripted"


def config(on_conflict: OnConflict = "retry_once") -> TargetConfig:
    route = HttpRoute(payload_type=COMMAND.payload_type, operation="create", method="POST", path="/accounts",
                      body=None, on_conflict=on_conflict)
    return TargetConfig(path=Path("erp.yaml"), system="erp", adapter="http", http=None, sql=None,
                        routes={(route.payload_type, route.operation): route})


def deliver(adapter: Scripted, *, deadline: float | None = None, threshold: int = 100,
            on_conflict: OnConflict = "retry_once", clock: Callable[[], float] | None = None
            ) -> tuple[Delivered, TargetGate]:
    async def run() -> tuple[Delivered, TargetGate]:
        gate = TargetGate(CircuitBreaker(threshold=threshold, reset_s=0.01))
        deliverer = Deliverer(adapter=adapter, gate=gate, config=config(on_conflict), rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0),
                                                 transient_deadline_s=deadline),
                              **({"clock": clock} if clock else {}))
        return await deliverer.deliver(COMMAND), gate

    return asyncio.run(run())


def test_transient_failures_are_retried_until_applied() -> None:
    adapter = Scripted(transient(), transient(), OK)
    delivered, gate = deliver(adapter)
    assert delivered.outcome == OK and delivered.attempts == 3 and delivered.retries_after_transient == 2
    assert gate.state is BreakerState.CLOSED


def test_a_permanent_refusal_is_not_retried() -> None:
    refused = Failed(kind="permanent", reason="422 name missing", status=422)
    delivered, _ = deliver(Scripted(refused))
    assert delivered.outcome == refused and delivered.attempts == 1


def test_a_conflict_is_retried_once_then_given_up_with_a_note() -> None:
    conflict = Failed(kind="conflict", reason="409 busy", status=409)
    delivered, _ = deliver(Scripted(conflict, conflict))
    assert isinstance(delivered.outcome, Failed) and delivered.attempts == 2
    assert delivered.outcome.reason == "409 busy; it still conflicted after a retry"
    delivered, _ = deliver(Scripted(conflict, OK))
    assert delivered.outcome == OK


def test_a_route_can_dead_letter_conflicts_at_once() -> None:
    conflict = Failed(kind="conflict", reason="409 exists", status=409)
    delivered, _ = deliver(Scripted(conflict), on_conflict="dead_letter")
    assert isinstance(delivered.outcome, Failed) and delivered.attempts == 1


def test_retry_after_holds_the_whole_target() -> None:
    adapter = Scripted(transient(retry_after=0.2), OK)
    delivered, gate = deliver(adapter)
    assert delivered.outcome == OK
    assert gate.not_before > 0, "the hold was set for every call to the target"


def test_transient_failures_give_up_only_after_the_deadline() -> None:
    ticks = iter(range(0, 10_000, 10))
    adapter = Scripted(*[transient() for _ in range(10)])
    delivered, _ = deliver(adapter, deadline=35, clock=lambda: float(next(ticks)))
    assert isinstance(delivered.outcome, Failed) and delivered.outcome.kind == "transient"
    assert "gave up after" in delivered.outcome.reason and "ISTHMUS_SINK_TRANSIENT_DEADLINE_S=35" in \
        delivered.outcome.reason
    assert 2 <= adapter.calls < 10


def test_the_breaker_opens_under_consecutive_failures_and_closes_on_success() -> None:
    adapter = Scripted(transient(), transient(), transient(), OK)
    delivered, gate = deliver(adapter, threshold=2)
    assert delivered.outcome == OK and gate.breaker.opened_count >= 1 and gate.state is BreakerState.CLOSED


def test_throttling_holds_calls_but_does_not_open_the_breaker() -> None:
    throttled = Failed(kind="transient", reason="429", status=429, retry_after=0.01)
    adapter = Scripted(throttled, throttled, throttled, OK)
    delivered, gate = deliver(adapter, threshold=2)
    assert delivered.outcome == OK and delivered.attempts == 4 and gate.breaker.opened_count == 0


def test_calls_held_by_an_open_breaker_are_counted_as_held_and_retries_as_they_go_out() -> None:
    """A target down: its retries count while the command is still being delivered (not only once it ends), and
    the commands whose calls the open breaker holds show as held by it, back to none once it closes."""

    class Down(Scripted):
        def __init__(self) -> None:
            super().__init__()
            self.up = False

        async def attempt(self, command: SinkCommand) -> Attempt:
            self.calls += 1
            return OK if self.up else transient()

    async def run() -> tuple[int, dict[str, int], int, dict[str, int]]:
        adapter = Down()
        gate = TargetGate(CircuitBreaker(threshold=2, reset_s=30))
        deliverer = Deliverer(adapter=adapter, gate=gate, config=config(), rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.001, jitter=0)))
        first = asyncio.create_task(deliverer.deliver(COMMAND))
        while gate.state is not BreakerState.OPEN:
            await asyncio.sleep(0.001)
        others = [asyncio.create_task(deliverer.deliver(COMMAND)) for _ in range(3)]
        await asyncio.sleep(0.05)
        retried, held = deliverer.retries, dict(gate.held)
        adapter.up = True
        gate.success()  # as a successful probe would
        await asyncio.wait_for(asyncio.gather(first, *others), 5)
        return retried, held, deliverer.retries, dict(gate.held)

    retried, held, _, after = asyncio.run(run())
    assert retried == 1  # the second call of the first command, made before the breaker opened
    assert held == {"breaker": 4, "retry_after": 0}
    assert after == {"breaker": 0, "retry_after": 0}
