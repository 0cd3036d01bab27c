"""A slow target under the sink's default concurrency: nothing is dead-lettered, and no connection slot is lost.

A new user's sink, at the default ISTHMUS_SINK_CONCURRENCY (1024, so 32 connections), sent 500 creates to a real
Tryton that answers in 0.1-0.4 s with a few threads. The JSON-RPC adapter queued every call in httpx's pool, whose
wait for a connection timed out (said as "TRYTON gave no answer ... within 10 s") and opened the breaker; once it
closed, one success made every retry "fail alone", and 446 of the 500 creates were dead-lettered. Meanwhile
httpcore's pool lost a slot each time a waiting request was handed a new connection as its wait timed out, until
none was left and no call went out at all. Here the real worker and the real JSON-RPC adapter run offline (no
Kafka) against a slow JSON-RPC server of the test's own (tests/sinks/slow_rpc.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sink_support import account_payload, command
from slow_rpc import SlowRpcServer
from support.waiting import eventually_async

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.http import unanswered
from streams.sinks.adapters.jsonrpc import JsonRpcAdapter
from streams.sinks.adapters.pool import ReleasingPool, pooled_transport
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.delivery import Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.settings import SinkSettings
from streams.sinks.worker import SinkWorker
from tests.sinks.test_sink_delivery import COMMAND, OK, Scripted, config

STORE = SchemaStore.from_directory()
#: A made-up target: parties through a JSON-RPC API, created as "search by code, then create" like Tryton's.
TARGET = """\
system: ledgerly
adapter: jsonrpc
jsonrpc:
  url: {url}
  version: "1.0"
routes:
  - payload_type: Account
    operation: create
    method: model.party.party.create
    params: [[{{name: name, code: account_code}}], {{}}]
    ids: {{party_id: $id}}
    external_id:
      field: account_code
      search:
        method: model.party.party.search
        params: [[[{{value: code}}, {{value: "="}}, account_code]], 0, 2, null, {{}}]
      created_id: result.0
"""
COMMANDS = 120
#: Short enough that commands queued behind the slow target wait longer than it (as 500 did behind 10 s).
TIMEOUT_S = 2.0


def _worker(url: str, folder: Path) -> SinkWorker:
    path = folder / "ledgerly.yaml"
    path.write_text(TARGET.format(url=url))
    config = load_target(path, STORE.schemas, ["ledgerly"])
    settings = SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "0", "ISTHMUS_SINK_FAILING_ALONE_S": "3",
                                      "ISTHMUS_SINK_REQUEST_TIMEOUT_S": str(TIMEOUT_S)})
    assert settings.concurrency == 1024, "the default concurrency, as the user ran it"
    resolved = settings.for_system("ledgerly", writable=["ledgerly"])
    adapter = JsonRpcAdapter(config, url=url, timeout_s=TIMEOUT_S, max_connections=32, env={})
    return SinkWorker(config=config, adapter=adapter, settings=resolved, bootstrap_servers="127.0.0.1:9",
                      store=STORE)


def _feed(worker: SinkWorker, items: list[dict[str, Any]]) -> None:
    tp = TopicPartition(worker.resolved.command_topic, 0)
    for offset, item in enumerate(items):
        value, key = STORE.encode("Command", item), item["entity_key"].encode()
        worker._accept(tp, ConsumerRecord(
            topic=tp.topic, partition=0, offset=offset, timestamp=int(time.time() * 1000), timestamp_type=0,
            key=key, value=value, checksum=None, serialized_key_size=len(key), serialized_value_size=len(value),
            headers=[]))
    worker._dispatch()


def test_a_slow_target_gets_every_command_applied_once_and_none_dead_lettered(tmp_path: Path) -> None:
    """Before: the creates queued in httpx's pool timed out, the breaker opened, and after it closed the retries
    were judged "failing alone" and dead-lettered (all but a handful of 150 in a trial), with a slot of the pool
    left unopened for good. Now calls wait for a connection in the adapter, a timeout is never a command's own
    failure, and every create is applied exactly once."""
    numbers = [f"L-{i:05d}" for i in range(COMMANDS)]
    items = [command(target="ledgerly", operation="create", payload_type="Account", entity_key=n,
                     payload=account_payload(n)) for n in numbers]

    async def run(server: SlowRpcServer) -> tuple[SinkWorker, list[str]]:
        worker = _worker(server.url, tmp_path)
        _feed(worker, items)

        async def settled() -> bool | None:
            return not worker.offsets.pending or None

        with contextlib.suppress(AssertionError):  # what is left unsettled is asserted below, with its outcomes
            await eventually_async("every command settled", settled, timeout=150, every=0.2)
        pool = worker.adapter._client._transport._pool  # type: ignore[attr-defined]
        left = [connection.info() for connection in pool.connections]
        for task in list(worker._tasks):
            task.cancel()
        await asyncio.gather(*worker._tasks, return_exceptions=True)
        await worker.adapter.close()
        return worker, left

    with SlowRpcServer(latency=0.25, threads=3) as server:
        worker, left = asyncio.run(run(server))
        created = dict(server.created)
    assert worker.stats.dead_lettered == 0, worker._summary_text()
    assert worker.stats.applied == COMMANDS and not worker.offsets.pending, worker._summary_text()
    assert created == {f"T{n[2:]}": 1 for n in numbers}, "every create applied exactly once"
    assert "CONNECTING" not in left, f"a connection slot was left unopened: {left}"


def test_a_request_whose_wait_ends_as_it_is_handed_a_new_connection_leaves_no_slot_behind() -> None:
    """httpcore's pool hands a waiting request a new connection when the server closed the last one; if the
    request's wait ends right then (cancelled, or its pool timeout) that connection stayed, never opened, and the
    pool's only slot was gone: the next request waited out its pool timeout. The sinks' pool drops it."""

    async def run(server: SlowRpcServer) -> list[str]:
        transport = pooled_transport(httpx.Limits(max_connections=1, max_keepalive_connections=1))
        assert isinstance(transport._pool, ReleasingPool)
        body = {"id": 1, "method": "model.party.party.search", "params": [[["code", "=", "X"]]]}
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, pool=1)) as client:
            async def first_call() -> None:
                await client.post(server.url, json=body)  # the server closed its connection on answering: a
                waiting.cancel()  # new one went to the waiting call, whose wait ends here, before it ran

            first = asyncio.create_task(first_call())
            await asyncio.sleep(0.05)
            waiting = asyncio.create_task(client.post(server.url, json=body))  # queued for the only connection
            await asyncio.gather(first, waiting, return_exceptions=True)
            left = [connection.info() for connection in transport._pool.connections]
            answered = await client.post(server.url, json=body)  # PoolTimeout after 1 s when the slot leaked
            assert answered.status_code == 200
            return left

    with SlowRpcServer(latency=0.2, threads=1) as server:
        assert asyncio.run(run(server)) == []


def test_a_wait_for_a_busy_connection_is_said_as_such_and_is_no_failure_of_the_target() -> None:
    busy = unanswered(httpx.PoolTimeout("no connection"), system="TRYTON", what="model.party.party.search",
                      timeout_s=10, connections=32)
    assert busy.reason == ("all 32 connections to TRYTON busy for 10 s: model.party.party.search did not go out "
                           "(the sink's own queue, not a failure of the target)")
    assert busy.unsent and not busy.timed_out and busy.error_type == "ConnectionsBusy"
    slow = unanswered(httpx.ReadTimeout("slow"), system="TRYTON", what="model.party.party.search", timeout_s=10,
                      connections=32)
    assert slow.reason == "TRYTON gave no answer to model.party.party.search within 10 s" and slow.timed_out


def _deliverer(adapter: Scripted, *, threshold: int) -> Deliverer:
    gate = TargetGate(CircuitBreaker(threshold=threshold, reset_s=0.05))
    policy = RetryPolicy(backoff=Backoff(base=0.001, maximum=0.001, jitter=0), alone_attempts=1, alone_s=0)
    return Deliverer(adapter=adapter, gate=gate, policy=policy, config=config())


def test_waits_for_a_busy_connection_never_open_the_breaker() -> None:
    busy = Failed(kind="transient", reason="all 32 connections to ERP busy for 10 s", unsent=True)
    deliverer = _deliverer(Scripted(*[busy] * 5, OK), threshold=2)
    delivered = asyncio.run(deliverer.deliver(COMMAND))
    assert isinstance(delivered.outcome, Applied) and delivered.attempts == 6
    assert deliverer.gate.breaker.opened_count == 0 and deliverer.gate.breaker.failures == 0


def test_a_timeout_is_never_a_commands_own_failure_however_many_others_are_applied() -> None:
    """Others applied meanwhile would make an answered failure the command's own (alone_attempts 1, alone_s 0
    here: dead-lettered at once); a call that got no answer in time is an overload, so it is retried."""
    timeout = Failed(kind="transient", reason="ERP gave no answer to POST /accounts within 10 s", timed_out=True)
    deliverer = _deliverer(Scripted(timeout, timeout, timeout, OK), threshold=100)

    async def run() -> Any:
        delivery = asyncio.create_task(deliverer.deliver(COMMAND))
        for _ in range(50):
            deliverer.retrying.success()  # the target applies others
            await asyncio.sleep(0)
        return await delivery

    delivered = asyncio.run(run())
    assert isinstance(delivered.outcome, Applied) and delivered.attempts == 4
