"""Readiness: a flow is ready only once it has joined its group and every task assigned to it has started (producer,
stores restored, inputs positioned); never while joining (aiokafka calls the revocation callback, with nothing, as
the first join begins), nor during a rebalance, nor while a task restores. A standby (no task) is ready once joined.
/ready says what a flow waits for; /health stays 200. The restore's log: what from where, progress, time taken.

The processors here run their rebalance callbacks as aiokafka calls them, without Kafka: no consumer (no inputs to
pause), a producer that starts at once, and a restore that reports its progress and waits for its cue."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored
from streams.flows.engine.readiness import PROGRESS_EVERY_S, StoreReplay, TaskStart
from streams.worker.web import build_app

FLOW = "billing-sync"


class _Producer:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class HeldStart(FlowProcessor):
    """The engine's task start with its producer made up and its restore held until ``release``: it reports one
    store at 400 of 1,000 changelog records, then waits."""

    def __init__(self) -> None:
        super().__init__(FlowSpec(name=FLOW, inputs=("billing.in",), handler=lambda record, ctx: None,
                                  stores=("balances",)),
                         EngineSettings(bootstrap_servers="127.0.0.1:9", session_timeout_ms=10000),
                         SchemaStore.from_directory())
        self.release = asyncio.Event()

    def _producer_for(self, partition: int) -> Any:
        return _Producer()

    async def _restore(self, partition: int, restored: _Restored) -> None:
        start = self.starts[partition]
        start.replaying({"balances": StoreReplay(topic=self.spec.changelog_topic("balances"), partition=partition,
                                                 first=0, end=1000, source="the beginning")})
        start.read("balances", 400)
        await self.release.wait()
        start.read("balances", 1000)


async def _ready(processor: FlowProcessor) -> tuple[int, dict[str, Any], int]:
    async with TestClient(TestServer(build_app("w-1", [processor], {}))) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
        return ready.status, await ready.json(), health.status


async def _settled(processor: HeldStart) -> None:
    for task in processor.tasks.values():
        if task.starting is not None:
            await task.starting


def test_a_flow_joining_its_group_is_not_ready() -> None:
    """The user's restart: aiokafka calls ``on_partitions_revoked`` with nothing as the first join begins, and the
    group holds the join until a killed member's session times out. /ready said 200, ready: true, processed: 0."""

    async def scenario() -> tuple[int, dict[str, Any], int]:
        processor = HeldStart()
        await processor.revoke(set())
        return await _ready(processor)

    status, body, health = asyncio.run(scenario())
    assert status == 503 and body["ready"] is False
    flow = body["flows"][FLOW]
    assert flow["ready"] is False and flow["tasks"] == [] and flow["processed"] == 0
    assert flow["state"] == "joining"
    assert f"consumer group {FLOW}" in flow["waiting_for"] and "session.timeout.ms=10000" in flow["waiting_for"]
    assert health == 200, "a worker joining its group is alive"


def test_a_long_join_is_logged_with_what_it_waits_for(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("streams.flows.engine.processor.PROGRESS_EVERY_S", 0.05)

    async def scenario() -> None:
        processor = HeldStart()
        await processor.revoke(set())
        await asyncio.sleep(0.2)
        await processor.assign(set())

    with caplog.at_level(logging.INFO, logger="streams.flows.engine.processor"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if "still joining" in line]) == 1, lines
    waited = next(line for line in lines if "still joining" in line)
    assert waited.startswith(f"{FLOW}: still joining consumer group {FLOW} after 0s: ")
    assert "stopped without leaving the group (kill -9, a crash)" in waited
    assert "session.timeout.ms=10000, ISTHMUS_WORKER_SESSION_TIMEOUT_MS" in waited
    assert lines[-1].startswith(f"{FLOW}: joined consumer group {FLOW} in 0.")
    assert lines[-1].endswith(": no task (the group's other members have them all)")


def test_a_task_restoring_its_stores_is_not_ready_and_says_how_far_it_is() -> None:
    async def scenario() -> list[tuple[int, dict[str, Any], int]]:
        processor = HeldStart()
        await processor.revoke(set())
        await processor.assign({0})
        answers = []
        for _ in range(50):  # the task's start runs up to its held restore
            await asyncio.sleep(0)
        answers.append(await _ready(processor))
        processor.release.set()
        await _settled(processor)
        answers.append(await _ready(processor))
        return answers

    (status, body, health), (after, ready, _) = asyncio.run(scenario())
    assert status == 503 and health == 200
    flow = body["flows"][FLOW]
    assert flow["ready"] is False and flow["state"] == "restoring" and flow["tasks"] == [0]
    assert flow["restoring"] == {"0": {"step": "stores", "stores": {"balances": {"restored": 400, "of": 1000}}}}
    assert flow["waiting_for"] == "task 0: its stores to be restored (400 of 1000 changelog records replayed)"
    assert after == 200 and ready["ready"] is True
    assert ready["flows"][FLOW] == {"ready": True, "state": "consuming", "tasks": [0], "processed": 0}


def test_a_standby_is_ready_once_joined_and_a_rebalance_makes_it_join_again() -> None:
    async def scenario() -> list[tuple[bool, str]]:
        processor = HeldStart()
        seen = []
        await processor.revoke(set())
        seen.append((processor.ready, processor.readiness()["state"]))
        await processor.assign(set())  # the group's other members have every partition
        seen.append((processor.ready, processor.readiness()["state"]))
        processor.release.set()
        await processor.revoke(set())  # a member joins: the group rebalances
        seen.append((processor.ready, processor.readiness()["state"]))
        await processor.assign({0})
        await _settled(processor)
        seen.append((processor.ready, processor.readiness()["state"]))
        await processor.revoke({0})
        seen.append((processor.ready, processor.readiness()["state"]))
        return seen

    assert asyncio.run(scenario()) == [(False, "joining"), (True, "consuming"), (False, "joining"),
                                       (True, "consuming"), (False, "joining")]


def test_a_flow_whose_consumer_is_not_made_yet_is_starting() -> None:
    body = HeldStart().readiness()
    assert body["ready"] is False and body["state"] == "starting" and "to start" in body["waiting_for"]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_restore_logs_what_from_where_its_progress_and_the_time_taken(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    start = TaskStart("billing-sync", 2, clock=clock)
    clock.now += 0.5
    start.next("stores")
    with caplog.at_level(logging.INFO, logger="streams.flows.engine.readiness"):
        start.replaying({
            "balances": StoreReplay(topic="billing-sync-balances-changelog", partition=2, first=4000, end=124000,
                                    source="the local checkpoint at offset 4000"),
            "index": StoreReplay(topic="billing-sync-index-changelog", partition=2, first=0, end=30000,
                                 source="the beginning"),
            "parked": StoreReplay(topic="billing-sync-parked-changelog", partition=2, first=7, end=7,
                                  source="the local checkpoint at offset 7")})
        for at in range(9000, 124001, 5000):  # a batch of 5,000 every second
            clock.now += 1.0
            start.read("balances", at, 5000)
        for at in range(5000, 30001, 5000):
            clock.now += 1.0
            start.read("index", at, 4999 if at == 30000 else 5000)  # the last offset a transaction marker
        start.read("parked", 7)
        clock.now += 0.25
        start.next("inputs")
        clock.now += 0.25
        start.done({TopicPartition("billing.in", 2): 812})
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "billing-sync task 2: restoring 3 store(s) from their changelogs, about 150000 records to replay: balances "
        "from the local checkpoint at offset 4000 (120000 to replay, billing-sync-balances-changelog/2 offsets "
        "4000..124000); index from the beginning (30000 to replay, billing-sync-index-changelog/2 offsets "
        "0..30000); nothing to replay for parked (at their changelogs' end)")
    progress = lines[1:-1]
    assert len(progress) == 30 // int(PROGRESS_EVERY_S), progress  # every 5 s of a 30 s restore
    assert progress[0] == ("billing-sync task 2: restoring: 25000 of 150000 changelog records replayed (17%) in 5s, "
                           "5000 records/s, about 25s left; store balances at offset 29000 of 124000")
    assert lines[-1] == (
        "billing-sync task 2: ready in 31.0s (producer 0.5s, fencing any previous owner; stores 30.2s, 149999 "
        "changelog records replayed, 4959/s; inputs 0.2s); consuming billing.in/2 from offset 812")
    assert start.as_json() == {"step": "inputs", "stores": {"balances": {"restored": 120000, "of": 120000},
                                                            "index": {"restored": 30000, "of": 30000},
                                                            "parked": {"restored": 0, "of": 0}}}
