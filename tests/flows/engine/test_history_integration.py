"""Changing a flow's partition count on the real engine: the new layout rebuilds its state from the history the
previous one acted on without sending its commands or dead letters again, and acts on what came after (1 -> 2),
and so does the flow going back to 1 (2 -> 1); the history is read before anything after it, so work a history
record releases is never work of a record after the marks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from support.pipeline import delete_topics_and_groups
from support.topics import TopicReader, raw
from support.waiting import eventually_async

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected, Store
from streams.flows.engine.history import (
    HISTORY_COMMANDS_DROPPED,
    HISTORY_DEAD_LETTERS_DROPPED,
    HistoryMarks,
    history_topic,
)
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.repartition import Layout, layout, prepare, with_history
from streams.kafka import names
from streams.kafka.deadletters import dlq_topic
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration


class FirstByte:
    """Keys each record by its value's first character; keeps no state."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        return [(None if not record.value else record.value[:1].decode(), record)]


def _commands() -> str:
    return names.topic("isthmus.commands.history_test")


def _handle(record: Incoming, ctx: Context) -> None:
    """A command per record naming the key's value before it (the state), ``!`` refused."""
    value = (record.value or b"").decode()
    if value.endswith("!"):
        raise Rejected(f"{value}: refused")
    before = ctx.stores["last"].get(value[:1])
    ctx.stores["last"].put(value[:1], {"value": value})
    ctx.emit(_commands(), key=value[:1], value=f"{value} after {before['value'] if before else '-'}".encode())


def test_a_new_layout_sends_nothing_again_for_the_history_and_acts_on_what_follows(
        stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:8]
    topic_prefix, group_prefix = f"hist{run}.", f"hist{run}-"
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, topic_prefix)
    monkeypatch.setenv(names.GROUP_PREFIX_ENV, group_prefix)
    bootstrap = stack.settings.bootstrap_servers
    source = f"{topic_prefix}in"
    spec = FlowSpec(name=f"hist-{run}", inputs=(source,), handler=_handle, stores=("last",), key_by=FirstByte(),
                    outputs=(_commands(),))
    try:
        asyncio.run(_scenario(bootstrap, source, spec))
    finally:
        delete_topics_and_groups(bootstrap, topic_prefixes=(topic_prefix,),
                                 groups=tuple(names.group(g) for g in (spec.name, f"{spec.name}-p2-keying",
                                                                       f"{spec.name}-p2")), say=print)


async def _scenario(bootstrap: str, source: str, spec: FlowSpec) -> None:
    await ensure_topics(bootstrap, [TopicSpec(name=source, partitions=1)])
    await _produce(bootstrap, source, [b"a1", b"b1", b"a2", b"c!", b"b2", b"c1"])
    one = await _run(bootstrap, layout([spec], 1), spec.name, 6)
    first = await _read(bootstrap, _commands())
    assert sorted(first) == ["a1 after -", "a2 after a1", "b1 after -", "b2 after b1", "c1 after -"]
    assert len(await _read(bootstrap, dlq_topic())) == 1
    assert one[spec.name].events[HISTORY_COMMANDS_DROPPED] == 0

    await _produce(bootstrap, source, [b"a3", b"c2", b"d1"])
    two = await _run(bootstrap, layout([spec], 2), f"{spec.name}-p2", 9)
    after = (await _read(bootstrap, _commands()))[len(first):]
    assert sorted(after) == ["a3 after a2", "c2 after c1", "d1 after -"]  # the state rebuilt, the history not sent
    assert len(await _read(bootstrap, dlq_topic())) == 1  # c! was dead-lettered once, by the first layout
    keyed = two[f"{spec.name}-p2"]
    assert keyed.events[HISTORY_COMMANDS_DROPPED] == 5 and keyed.events[HISTORY_DEAD_LETTERS_DROPPED] == 1
    (kept,) = await _read(bootstrap, history_topic(f"{spec.name}-p2"))
    assert json.loads(kept)["marks"] == [[source, 0, 6]]

    await _produce(bootstrap, source, [b"a4"])
    back = await _run(bootstrap, layout([spec], 1), spec.name, 4)  # from its own offset 6: 3 of history, a4
    again = (await _read(bootstrap, _commands()))[len(first) + len(after):]
    assert again == ["a4 after a3"]
    assert back[spec.name].events[HISTORY_COMMANDS_DROPPED] == 3


def test_what_a_previous_keyed_flow_had_not_handled_is_acted_on(stack: RunningStack,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A partitioned layout stopped while its keyed flow was behind its keying stage: the marks are lowered to the
    first record the keyed flow had left, so the next layout acts on it rather than taking it for history."""
    run = uuid.uuid4().hex[:8]
    topic_prefix, group_prefix = f"lag{run}.", f"lag{run}-"
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, topic_prefix)
    monkeypatch.setenv(names.GROUP_PREFIX_ENV, group_prefix)
    bootstrap = stack.settings.bootstrap_servers
    source = f"{topic_prefix}in"
    spec = FlowSpec(name=f"lag-{run}", inputs=(source,), handler=_handle, stores=("last",), key_by=FirstByte(),
                    outputs=(_commands(),))
    try:
        asyncio.run(_lagging(bootstrap, source, spec))
    finally:
        delete_topics_and_groups(bootstrap, topic_prefixes=(topic_prefix,),
                                 groups=tuple(names.group(g) for g in (f"{spec.name}-p2-keying", f"{spec.name}-p3",
                                                                       f"{spec.name}-p3-keying")), say=print)


async def _lagging(bootstrap: str, source: str, spec: FlowSpec) -> None:
    await ensure_topics(bootstrap, [TopicSpec(name=source, partitions=1)])
    await _produce(bootstrap, source, [b"a1", b"b1", b"a2"])
    two = layout([spec], 2)
    stage_only = Layout(flows=two.flows[:1], topics=two.topics, stateful_stages=[], histories=two.histories)
    await _run(bootstrap, stage_only, f"{spec.name}-p2-keying", 3)  # routed, never handled
    await _run(bootstrap, layout([spec], 3), f"{spec.name}-p3", 3)
    assert sorted(await _read(bootstrap, _commands())) == ["a1 after -", "a2 after a1", "b1 after -"]
    (kept,) = await _read(bootstrap, history_topic(f"{spec.name}-p3"))
    assert json.loads(kept)["marks"] == [[source, 0, 0]]


def _pair(record: Incoming, ctx: Context) -> None:
    """A command for a value once both inputs have carried it (the transaction join's shape: a change and its
    END), sent by whichever of the two comes second."""
    value = (record.value or b"").decode()
    here, there = ("a", "b") if record.topic.endswith(".a") else ("b", "a")
    halves = ctx.stores["halves"]
    if halves.get(f"{there}:{value}") is None:
        halves.put(f"{here}:{value}", {"seen": True})
        return
    halves.put(f"{there}:{value}", None)
    ctx.emit(_commands(), key=value, value=value.encode())


def test_work_a_history_record_completes_after_the_marks_is_sent(stack: RunningStack,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Input ``a`` holds ``h`` (history: below its mark 1) and ``n`` (after it); input ``b`` holds ``h`` and ``n``,
    both below its mark 2. The previous layout acted on ``h``, never on ``n`` (it had not read ``a``'s). When ``b``
    is read late, its history record ``n`` completes ``n``: were ``a``'s ``n`` handled before it, the command would
    be dropped as history, and ``n`` sent nowhere. ``a`` is held at its mark until ``b`` has reached its own."""
    run = uuid.uuid4().hex[:8]
    topic_prefix, group_prefix = f"first{run}.", f"first{run}-"
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, topic_prefix)
    monkeypatch.setenv(names.GROUP_PREFIX_ENV, group_prefix)
    bootstrap = stack.settings.bootstrap_servers
    a, b = f"{topic_prefix}a", f"{topic_prefix}b"
    spec = FlowSpec(name=f"first-{run}", inputs=(a, b), handler=_pair, stores=("halves",), outputs=(_commands(),))
    marks = HistoryMarks(flow=spec.name, layout=spec.name, marks={(a, 0): 1, (b, 0): 2})
    try:
        asyncio.run(_late_history(bootstrap, a, b, with_history(spec, marks)))
    finally:
        delete_topics_and_groups(bootstrap, topic_prefixes=(topic_prefix,), groups=(names.group(spec.name),),
                                 say=print)


async def _late_history(bootstrap: str, a: str, b: str, spec: FlowSpec) -> None:
    await ensure_topics(bootstrap, [TopicSpec(name=a, partitions=1), TopicSpec(name=b, partitions=1)])
    await _produce(bootstrap, a, [b"h", b"n"])
    settings = EngineSettings(bootstrap_servers=bootstrap, worker_id="w", poll_timeout_ms=100)
    processor = FlowProcessor(spec, settings, SchemaStore.from_directory())
    stop = asyncio.Event()
    running = asyncio.create_task(processor.run(stop))
    try:
        await eventually_async("a's history handled", lambda: _handled(running, processor, 1), timeout=120, every=0.2)
        await asyncio.sleep(1.5)  # a's n would be handled by now, were it not held
        assert processor.processed == 1, "a record after a's mark was handled before b's history was read"
        await _produce(bootstrap, b, [b"h", b"n"])
        await eventually_async("every record handled", lambda: _handled(running, processor, 4), timeout=120,
                               every=0.2)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await running
    assert await _read(bootstrap, _commands()) == ["n"]  # h was the history's; n is sent, by a's n
    assert processor.events[HISTORY_COMMANDS_DROPPED] == 1


async def _handled(running: asyncio.Task[None], processor: FlowProcessor, records: int) -> bool:
    if running.done():
        running.result()
        raise AssertionError("the flow stopped")
    return processor.processed >= records


async def _produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, key=value[:1], value=value)
    finally:
        await producer.stop()


async def _run(bootstrap: str, laid: Layout, counted: str, records: int) -> dict[str, FlowProcessor]:
    """Run the layout's flows until ``counted`` has committed ``records`` records, then stop them."""
    await prepare(bootstrap, laid)
    settings = EngineSettings(bootstrap_servers=bootstrap, worker_id="w", poll_timeout_ms=100)
    processors = {spec.name: FlowProcessor(spec, settings, SchemaStore.from_directory()) for spec in laid.flows}
    stop = asyncio.Event()
    running = [asyncio.create_task(p.run(stop)) for p in processors.values()]

    async def done() -> bool:
        for task in running:
            if task.done():
                task.result()
                raise AssertionError("a flow stopped before it processed its input")
        return processors[counted].processed >= records

    try:
        await eventually_async(f"{counted} to commit {records} records", done, timeout=120, every=0.2)
        await asyncio.sleep(1.0)  # anything more it would send (it must not) has time to commit
    finally:
        stop.set()
        await asyncio.gather(*running)
    assert processors[counted].processed == records
    return processors


async def _read(bootstrap: str, topic: str) -> list[str]:
    """Every committed value of ``topic``, partition by partition in offset order."""
    def read() -> list[str]:
        with TopicReader(bootstrap, [topic], raw, start="beginning") as reader:
            records = sorted(reader.to_end(), key=lambda r: (r.partition, r.offset))
        return [r.value.decode(errors="replace") for r in records if r.value is not None]

    return await asyncio.to_thread(read)
