"""A task restores its state outside the rebalance callback: while one partition's restore is held up, the
flow's other partition is processed, and the held partition's records wait (paused) until its state is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from support.waiting import eventually_async

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, FlowProcessor, FlowTopologyError, _Restored
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.running import RunningStack

WAIT_S = 90.0


def counting(seen: list[tuple[str, int]]) -> Callable[[Incoming, Context], None]:
    """Counts records per key in a store; notes each (key, count) it commits to."""

    def handle(record: Incoming, ctx: Context) -> None:
        key = (record.key or b"").decode()
        store = ctx.stores["counts"]
        n = (store.get(key) or {"n": 0})["n"] + 1
        store.put(key, {"n": n})
        seen.append((key, n))

    return handle


class HeldRestore(FlowProcessor):
    """The engine, with the restore of partition 1 held until ``release`` is set (a slow restore, on cue)."""

    def __init__(self, spec: FlowSpec, settings: EngineSettings, schemas: SchemaStore) -> None:
        super().__init__(spec, settings, schemas)
        self.release = asyncio.Event()

    async def _restore(self, partition: int, restored: _Restored) -> None:
        if partition == 1:
            await self.release.wait()
        await super()._restore(partition, restored)


async def _produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, key in records:
            await producer.send_and_wait(topic, key=key, value=b"x", partition=partition)
    finally:
        await producer.stop()


async def _reached(condition: Callable[[], bool], what: str, running: asyncio.Task[None]) -> None:
    async def probe() -> bool:
        if condition():
            return True
        if running.done():
            running.result()
            raise AssertionError(f"the flow stopped before {what}")
        return False

    await eventually_async(what, probe, timeout=WAIT_S, every=0.05)


async def _scenario(bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"engine-start-in-{run}"
    await ensure_topics(bootstrap, [TopicSpec(name=topic, partitions=2)])
    settings = EngineSettings(bootstrap_servers=bootstrap, worker_id="engine-start-test", session_timeout_ms=10000)
    schemas = SchemaStore.from_directory()
    seen: list[tuple[str, int]] = []
    spec = FlowSpec(name=f"engine-start-{run}", inputs=(topic,), handler=counting(seen), stores=("counts",))

    # First life: two records of key a (partition 0) and two of key b (partition 1) counted and committed.
    await _produce(bootstrap, topic, [(0, b"a"), (0, b"a"), (1, b"b"), (1, b"b")])
    first = FlowProcessor(spec, settings, schemas)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await _reached(lambda: first.processed >= 4 and not first._lock.locked(), "4 records committed", running)
    stop.set()
    await running
    assert sorted(seen) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]

    # Second life: partition 1's restore is held; partition 0 goes on, partition 1's record waits for its state.
    seen.clear()
    await _produce(bootstrap, topic, [(0, b"a"), (1, b"b")])
    second = HeldRestore(spec, settings, schemas)
    stop = asyncio.Event()
    running = asyncio.create_task(second.run(stop))
    try:
        await _reached(lambda: ("a", 3) in seen, "partition 0 processed while partition 1 restores", running)
        assert not second.tasks[1].ready and not second.ready
        assert seen == [("a", 3)], "partition 1's record was processed before its state was restored"
        second.release.set()
        await _reached(lambda: len(seen) >= 2, "partition 1 processed once restored", running)
        assert seen == [("a", 3), ("b", 3)]
        await _reached(lambda: second.ready, "every task ready", running)
    finally:
        stop.set()
        second.release.set()
        await running


def test_a_slow_restore_holds_up_only_its_own_partition(stack: RunningStack) -> None:
    asyncio.run(_scenario(stack.settings.bootstrap_servers))


def test_a_changelog_made_for_another_layout_is_refused_before_the_flow_starts(stack: RunningStack) -> None:
    """Task p restores from partition p of each changelog: a one-partition changelog under a two-partition
    input would leave task 1 waiting for a partition that does not exist."""
    bootstrap = stack.settings.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    spec = FlowSpec(name=f"engine-layout-{run}", inputs=(f"engine-layout-in-{run}",), handler=counting([]),
                    stores=("counts",))
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=spec.inputs[0], partitions=2),
                                          TopicSpec(name=spec.changelog_topic("counts"), partitions=1)]))
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers=bootstrap), SchemaStore.from_directory())
    with pytest.raises(FlowTopologyError, match=r"inputs have 2 partition\(s\) but .*counts-changelog has 1"):
        asyncio.run(processor.ensure_topics())
