"""What every HTTP call to a target passes (streams/sinks/throttle.py): the rate's spacing, the Retry-After hold
with the held calls let go one at a time, the warning that names the fix, and every call of an adapter counted
(lookups, searches, batch calls, a JSON-RPC login). Times are asserted only from below: a busy machine makes
calls later, never sooner."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.jsonrpc.adapter import JsonRpcAdapter
from streams.sinks.config import load_target
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.rate import DECREASE
from streams.sinks.throttle import COMMAND_POSITION, LOG_EVERY_S, RequestThrottle, Slots, throttle_text
from streams.stack.settings import PROJECT_ROOT
from tests.sinks.test_sink_http_adapter import account

pytestmark = pytest.mark.unit

ERP = load_target(PROJECT_ROOT / "targets" / "erp.yaml")
TRYTON = load_target(Path(__file__).resolve().parent / "tryton" / "targets" / "tryton.yaml", writable=["tryton"])
#: Timer slack asyncio allows itself (a call_later may fire this much early).
SLACK = 0.002


async def starts(throttle: RequestThrottle, calls: int) -> list[float]:
    return list(await asyncio.gather(*(throttle.acquire() for _ in range(calls))))


def test_with_no_rate_every_call_passes_at_once() -> None:
    async def run() -> tuple[list[float], RequestThrottle]:
        throttle = RequestThrottle()
        return await starts(throttle, 1000), throttle

    started, throttle = asyncio.run(run())
    assert len(started) == 1000 and throttle._timer is None and throttle.waiting == 0 and throttle.rate is None


def test_calls_over_the_files_rate_go_one_at_a_time_at_least_a_period_apart() -> None:
    started = asyncio.run(starts(RequestThrottle(ceiling=50.0), 12))
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert min(gaps) >= 1 / 50 - SLACK, gaps


async def search_then_create(wait: Callable[[], Awaitable[object]], commands: int) -> list[tuple[int, str]]:
    """Each command (at its position) waits twice, for its search then its create: the order they got through."""
    order: list[tuple[int, str]] = []

    async def command(position: int) -> None:
        COMMAND_POSITION.set(position)
        for step in ("search", "create"):
            await wait()
            order.append((position, step))

    await asyncio.gather(*(command(position) for position in range(commands)))
    return order


def test_waiting_calls_go_in_their_commands_order_not_as_they_came() -> None:
    # in order of arrival every command's search went before any create (a new user's sink: 3 minutes of searches
    # and no POST, no offset committed): an older command's create now overtakes newer commands' searches
    order = asyncio.run(search_then_create(RequestThrottle(ceiling=200.0).acquire, 8))
    assert order == [(position, step) for position in range(8) for step in ("search", "create")], order


def test_connection_slots_go_in_their_commands_order_too() -> None:
    async def run() -> list[tuple[int, str]]:
        slots = Slots(1)

        async def call() -> None:
            async with slots:
                await asyncio.sleep(0.001)

        return await search_then_create(call, 8)

    order = asyncio.run(run())
    # a command's slot is given back before its create asks again: the next command's search takes it meanwhile,
    # and then the create goes before every newer search
    assert all(order.index((p, "create")) < order.index((p + 2, "search")) for p in range(6)), order


def test_a_retry_after_holds_every_call_then_lets_them_go_at_the_lowered_rate() -> None:
    async def run() -> tuple[float, list[float], RequestThrottle]:
        throttle = RequestThrottle()
        first = [await throttle.acquire() for _ in range(40)]
        for at in first[:20]:
            throttle.answered(at, 201, None)
        throttle.answered(first[20], 429, 0.3)
        refused_at = throttle.clock()
        return refused_at, await starts(throttle, 6), throttle

    refused_at, held, throttle = asyncio.run(run())
    assert throttle.rate is not None and throttle.rate <= 20 * DECREASE + 0.01
    assert min(held) >= refused_at + 0.3 - SLACK, "a call went out during the Retry-After hold"
    gaps = [b - a for a, b in itertools.pairwise(held)]
    assert min(gaps) >= 1 / throttle.rate - SLACK, f"the held calls went out together: {gaps}"
    assert throttle.answers == {429: 1, 503: 0}


def test_a_cancelled_call_gives_up_its_turn() -> None:
    async def run() -> float:
        throttle = RequestThrottle(ceiling=20.0)
        await throttle.acquire()
        gone = asyncio.create_task(throttle.acquire())
        kept = asyncio.create_task(throttle.acquire())
        await asyncio.sleep(0)
        gone.cancel()
        return await asyncio.wait_for(kept, timeout=5)

    assert asyncio.run(run()) > 0


def test_throttling_is_said_with_the_count_the_rate_and_the_fix_at_most_every_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttle = RequestThrottle(name="sink feldservice", target_file="targets/feldservice.yaml", clock=lambda: now[0])
    for _ in range(20):
        throttle.control.sending(now[0])
        throttle.answered(now[0], 201, None)
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        for _ in range(5):
            throttle.answered(now[0], 429, 1.0)
        now[0] += LOG_EVERY_S
        throttle.answered(now[0], 429, 1.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("sink feldservice: the target is throttling the sink: 1 answer 429 so far; calls to "
                               "it now go out at most 14.0 a second")
    assert "Fix: set limits.requests_per_second in targets/feldservice.yaml" in lines[0]
    assert "5 answers 429 in the last 10 s" in lines[1]
    assert throttle_text(throttle).startswith("; at most ") and "(throttled: 6 answers 429)" in throttle_text(throttle)


def test_a_429_at_the_files_rate_says_to_lower_it(caplog: pytest.LogCaptureFixture) -> None:
    throttle = RequestThrottle(ceiling=25.0, target_file="targets/x.yaml")
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        throttle.answered(throttle.clock(), 429, None)
    assert "limits.requests_per_second in targets/x.yaml is 25, more than the target takes" in caplog.text


class Counting(RequestThrottle):
    def __init__(self) -> None:
        super().__init__()
        self.turns = 0

    async def acquire(self) -> float:
        self.turns += 1
        return await super().acquire()


def test_a_lookup_and_the_routes_call_each_take_a_turn_and_a_429_to_the_lookup_is_heard() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/accounts/by-customer/"):
            return httpx.Response(200, json={"account_id": 7})
        return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"})

    async def run() -> tuple[Any, Counting]:
        throttle = Counting()
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(answer),
                              throttle=throttle)
        try:
            return await adapter.attempt(account("update", name="N")), throttle
        finally:
            await adapter.close()

    outcome, throttle = asyncio.run(run())
    assert isinstance(outcome, Failed) and outcome.status == 429 and outcome.retry_after == 2
    assert throttle.turns == 2 and throttle.answers[429] == 1 and throttle.not_before > 0


def test_a_batch_call_takes_one_turn_for_all_its_commands() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        return httpx.Response(200, json={"results": [{"status": 201, "body": {"account_id": n}}
                                                     for n, _ in enumerate(items)]})

    async def run() -> tuple[list[Any], Counting]:
        throttle = Counting()
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(answer),
                              throttle=throttle)
        try:
            return list(await asyncio.gather(*(adapter.attempt(account("create", crm_customer_number=f"C-{n}"))
                                               for n in range(10)))), throttle
        finally:
            await adapter.close()

    outcomes, throttle = asyncio.run(run())
    assert all(isinstance(o, Applied) for o in outcomes) and throttle.turns == 1


def test_a_jsonrpc_post_takes_a_turn_and_its_429_is_heard() -> None:
    async def run() -> Counting:
        throttle = Counting()
        adapter = JsonRpcAdapter(TRYTON, url="http://tryton/db/rpc/", timeout_s=5, max_connections=2,
                                 env={"ISTHMUS_TRYTON_PASSWORD": "pw"}, throttle=throttle,
                                 transport=httpx.MockTransport(lambda _: httpx.Response(
                                     429, headers={"Retry-After": "1"}, json={})))
        try:
            await adapter._post({"jsonrpc": "2.0", "id": 1, "method": "m", "params": []}, {})
        finally:
            await adapter.close()
        return throttle

    throttle = asyncio.run(run())
    assert throttle.turns == 1 and throttle.answers[429] == 1 and throttle.not_before > 0
