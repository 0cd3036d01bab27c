"""A flow run on the engine under the kafka section's prefixes: the topics it creates (its changelog, its output,
the dead letters, the schemas written with), its consumer group and its members' client ids carry them on the
broker; its input, named by the caller as a CDC topic is, does not."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient
from support.pipeline import delete_topics_and_groups
from support.waiting import eventually_async

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.kafka import names
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.running import RunningStack


def _handle(record: Incoming, ctx: Context) -> None:
    if record.key == b"bad":
        raise Rejected("a record the flow cannot use")
    ctx.stores["seen"].put((record.key or b"").decode(), {"seen": True})
    ctx.emit(names.topic("isthmus.prefix-test.out"), key=record.key, value=b"out")


def test_a_flow_under_prefixes_creates_and_joins_only_prefixed_names(stack: RunningStack,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:8]
    topic_prefix, group_prefix, client_prefix = f"t{run}.", f"g{run}-", f"c{run}-"
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, topic_prefix)
    monkeypatch.setenv(names.GROUP_PREFIX_ENV, group_prefix)
    monkeypatch.setenv(names.CLIENT_ID_PREFIX_ENV, client_prefix)
    bootstrap = stack.settings.bootstrap_servers
    source = f"prefix-test-in-{run}"  # a CDC topic's stand-in: the caller names it, no prefix is put before it
    spec = FlowSpec(name=f"prefix-test-{run}", inputs=(source,), handler=_handle, stores=("seen",),
                    outputs=(names.topic("isthmus.prefix-test.out"),))
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers=bootstrap, worker_id="w"),
                              SchemaStore.from_directory())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        asyncio.run(_run(bootstrap, source, processor))
        created = {t for t in admin.list_topics() if run in t}
        assert created == {source, f"{topic_prefix}prefix-test-{run}-seen-changelog",
                           f"{topic_prefix}isthmus.prefix-test.out", f"{topic_prefix}isthmus.dlq",
                           f"{topic_prefix}isthmus.schemas"}  # the schemas written with (its dead letter's)
        groups = {g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()}
        assert {g for g in groups if run in g} == {f"{group_prefix}prefix-test-{run}"}
    finally:
        admin.close()
        delete_topics_and_groups(bootstrap, topic_prefixes=(topic_prefix, source),
                                 groups=(f"{group_prefix}prefix-test-{run}",), say=print)


async def _run(bootstrap: str, source: str, processor: FlowProcessor) -> None:
    await ensure_topics(bootstrap, [TopicSpec(name=source, partitions=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key in (b"a", b"bad", b"b"):
            await producer.send_and_wait(source, key=key, value=b"x")
    finally:
        await producer.stop()
    stop = asyncio.Event()
    running = asyncio.create_task(processor.run(stop))

    async def done() -> bool:
        if running.done():
            running.result()
            raise AssertionError("the flow stopped before it processed its input")
        return processor.processed == 3

    try:
        await eventually_async("the flow to commit its three records", done, timeout=90, every=0.1)
        clients = await _member_client_ids(bootstrap, processor.group)
        assert clients and all(c.startswith(names.client_id("w-")) for c in clients), clients
    finally:
        stop.set()
        await running


async def _member_client_ids(bootstrap: str, group: str) -> list[str]:
    def describe() -> list[str]:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            described = admin.describe_groups([group])[group]
            return [str(member["client_id"]) for member in described["members"]]
        finally:
            admin.close()

    return await asyncio.to_thread(describe)
