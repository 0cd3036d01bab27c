"""A record a flow emits that is larger than the worker produces (``ISTHMUS_WORKER_MAX_REQUEST_SIZE``) dead-letters
the input record that produced it, naming the output topic, the size, the limit and the fix, and the batch goes on;
a record batch the broker still refuses as too large names the flow, the topic, the size and the fix, and the flow
reports itself failing until the task it stopped commits again. Once, a 1.5 MB MEDIUMTEXT made a flow retry the same
transaction every 2 s for ever, logging only ``[Error 10] MessageSizeTooLargeError``."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.batches import OutRecord
from streams.flows.engine.local import LocalRun
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE, RefusedAsTooLarge, record_size
from streams.flows.engine.stores import MemoryStore
from streams.kafka.deadletters import DLQ_TOPIC, value_left_out

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
LIMIT = 64 * 1024
IN = TopicPartition("in", 0)


def doubled(record: Incoming, ctx: Context) -> None:
    """Counts the record in a store, then emits its value twice over: an output twice the size of its input."""
    counts = ctx.stores["counts"]
    counts.put("seen", {"n": (counts.get("seen") or {"n": 0})["n"] + 1})
    ctx.emit("out", key=record.key, value=(record.value or b"") * 2)


SPEC = FlowSpec(name="sized", inputs=("in",), handler=doubled, stores=("counts",), outputs=("out",))


class _Kept(FlowProcessor):
    """The engine's batch path with its Kafka transaction replaced by keeping what it would produce."""

    def __init__(self, spec: FlowSpec, settings: EngineSettings) -> None:
        super().__init__(spec, settings, STORE)
        self.produced: list[OutRecord] = []

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        self.produced += outgoing
        return {}


def _settings(**changed: Any) -> EngineSettings:
    return EngineSettings(bootstrap_servers="127.0.0.1:9", worker_id="w-1", **{"max_request_size": LIMIT, **changed})


def _task() -> _Task:
    return _Task(partition=0, restored=_Restored(stores={"counts": MemoryStore("counts")}), ready=True)


def _message(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="in", partition=0, offset=offset, timestamp=1, timestamp_type=0, key=b"k",
                          value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=())


def _run(processor: FlowProcessor, task: _Task, values: list[bytes]) -> None:
    async def batch() -> None:
        await processor._process(task, [(IN, [_message(offset, value) for offset, value in enumerate(values)])])
        await processor._settled(task)

    asyncio.run(batch())


def test_an_output_over_the_limit_dead_letters_its_input_record_and_the_batch_goes_on() -> None:
    processor = _Kept(SPEC, _settings())
    task = _task()
    fits, too_large = b"x" * 20_000, b"y" * 40_000  # outputs of 40 and 80 KB: the second is over 64 KiB
    _run(processor, task, [b"a", fits, too_large, b"b"])

    by_topic: dict[str, list[OutRecord]] = {}
    for record in processor.produced:
        by_topic.setdefault(record[0], []).append(record)
    assert [value for *_, value, _ in by_topic["out"]] == [b"aa", fits * 2, b"bb"]
    assert task.stores["counts"].get("seen") == {"n": 3}, "the refused record's count is undone"
    (letter,) = [STORE.decode(value or b"").value for *_, value, _ in by_topic[DLQ_TOPIC]]
    size = record_size(b"k", too_large * 2, [])
    assert (letter["topic"], letter["offset"], letter["value"]) == ("in", 2, too_large), "the input record, whole"
    assert (letter["error_type"], letter["stage"]) == ("OutputTooLarge", "flow.sized")
    reason = letter["reason"]
    assert f"a record it produced for out is {size} bytes, over the {LIMIT} bytes the worker produces" in reason
    assert f"raise ISTHMUS_WORKER_MAX_REQUEST_SIZE to at least {size} and the max.message.bytes of out" in reason
    assert "column.exclude.list" in reason and "replay this dead letter" in reason
    assert (processor.processed, processor.dead_lettered) == (4, 1)


def test_a_dead_letter_that_cannot_keep_the_input_record_within_the_limit_leaves_its_value_out() -> None:
    """The input record of a too large output is mostly as large: its dead letter must still go out, and say
    where the record is, as it cannot be replayed."""
    processor = _Kept(SPEC, _settings())
    large = b"z" * 100_000
    _run(processor, _task(), [large, b"b"])

    assert [value for topic, *_, value, _ in processor.produced if topic == "out"] == [b"bb"]
    (raw,) = [value or b"" for topic, *_, value, _ in processor.produced if topic == DLQ_TOPIC]
    assert record_size(b"k", raw, []) <= LIMIT
    letter = STORE.decode(raw).value
    assert letter["value"] is None and value_left_out(letter) == len(large)
    assert letter["error_type"] == "OutputTooLarge" and "a record it produced for out is" in letter["reason"]
    assert "The record's value (100000 bytes) is left out of this dead letter" in letter["reason"]
    assert "so it cannot be replayed as stored: the record is still at in[0]@0" in letter["reason"]


def test_local_run_refuses_what_a_worker_refuses_at_the_default_limit() -> None:
    run = LocalRun(SPEC)
    big = b"w" * (DEFAULT_MAX_REQUEST_SIZE // 2 + 1)  # doubled: over 1 MiB
    ctx = asyncio.run(run.feed([run.record("in", b"k", big), run.record("in", b"k", b"c")]))
    assert [e.value for e in ctx.emitted] == [b"cc"]
    (letter,) = ctx.dead_letters
    assert letter.record.value == big and letter.error_type == "OutputTooLarge"
    assert f"over the {DEFAULT_MAX_REQUEST_SIZE} bytes" in letter.reason


def test_an_output_too_large_in_an_isolated_part_dead_letters_the_records_of_that_part() -> None:
    """A parked record the one in hand released is the one whose output is too large: it is dead-lettered, the
    record in hand's own output stays."""
    released = Incoming(topic="parked", partition=0, offset=7, key=b"p", value=b"v" * 70_000, timestamp_ms=1)

    def handler(record: Incoming, ctx: Context) -> None:
        ctx.emit("out", key="k", value=b"own")
        with ctx.isolated(released):
            ctx.emit("out", key="p", value=released.value)
        ctx.count("went_on")

    processor = _Kept(FlowSpec(name="releasing", inputs=("in",), handler=handler), _settings())
    _run(processor, _Task(partition=0, restored=_Restored(), ready=True), [b"a"])
    assert [value for topic, *_, value, _ in processor.produced if topic == "out"] == [b"own"]
    (letter,) = [STORE.decode(value or b"").value for topic, *_, value, _ in processor.produced if topic == DLQ_TOPIC]
    assert (letter["topic"], letter["offset"], letter["error_type"]) == ("parked", 7, "OutputTooLarge")
    assert processor.events == {"went_on": 1}


class _RefusingProducer:
    """Takes a transaction's record batches as aiokafka's producer does; answers those for ``refused`` as the broker
    answers a record batch over the topic's max.message.bytes (``MESSAGE_TOO_LARGE``, no topic, no size)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    async def begin_transaction(self) -> None:
        pass

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(512 * 1024, 0, is_transactional=True)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    async def send_batch(self, builder: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.refused:
            answer.set_exception(MessageSizeTooLargeError())
        else:
            answer.set_result(SimpleNamespace(offset=0))
        return answer

    async def send_offsets_to_transaction(self, offsets: Any, group: str) -> None:
        pass

    async def commit_transaction(self) -> None:
        raise AssertionError("a transaction with a refused record batch never commits")


def test_a_record_batch_the_broker_refuses_as_too_large_names_the_flow_topic_size_and_fix() -> None:
    processor = FlowProcessor(SPEC, _settings(max_request_size=DEFAULT_MAX_REQUEST_SIZE), STORE)
    task = _task()
    outgoing: list[OutRecord] = [("other", None, b"k", b"small", []), ("out", None, b"k", b"s" * 10, []),
                                 ("out", None, b"k", b"L" * 900_000, [])]

    async def commit() -> None:
        task.producer = _RefusingProducer("out")  # type: ignore[assignment]
        await processor._commit(task, outgoing, {IN: 3})

    with pytest.raises(RefusedAsTooLarge) as refused:
        asyncio.run(commit())
    size = record_size(b"k", b"L" * 900_000, [])
    text = str(refused.value)
    assert text.startswith("flow sized: Kafka refused a record batch for out[0] as too large for the topic (its "
                           "max.message.bytes, or the brokers' message.max.bytes): the largest record the transaction "
                           f"wrote to out is {size} bytes. The flow cannot go past it and retries")
    assert f"Fix: raise max.message.bytes of out to at least {size}" in text
    assert f"--entity-name out --add-config max.message.bytes={size}" in text
    assert f"or lower ISTHMUS_WORKER_MAX_REQUEST_SIZE (now {DEFAULT_MAX_REQUEST_SIZE}) to the topic's limit" in text
    assert (refused.value.task, refused.value.topic, refused.value.size) == (0, "out", size)


def test_a_refused_changelog_record_names_only_the_topics_fix() -> None:
    """A store's value has no input record to dead-letter: lowering the worker's limit would not get past it."""
    refused = RefusedAsTooLarge(flow="sized", task=0, topic="sized-counts-changelog", partition=0, size=2_000_000,
                                limit=DEFAULT_MAX_REQUEST_SIZE, retry_s=2.0)
    text = str(refused)
    assert "it holds a value of the flow's state, written when its batch ends, with no input record" in text
    assert text.endswith("--add-config max.message.bytes=2000000)") and "ISTHMUS_WORKER_MAX_REQUEST_SIZE" not in text


def test_a_refusal_marks_the_flow_failing_until_the_task_it_stopped_commits_again(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The same record fails again after every restart: it is logged as an error each time (not a warning of a
    restart), and /health reports the flow (``FlowProcessor.failing``) until a batch of that task commits."""
    processor = _Kept(SPEC, _settings(restart_delay_s=0.0))
    refusal = RefusedAsTooLarge(flow="sized", task=0, topic="out", partition=0, size=2_000_000, limit=LIMIT,
                                retry_s=0.0)
    attempts: list[int] = []

    async def nothing_to_create() -> None:
        pass

    async def refused_twice(stop: asyncio.Event) -> None:
        attempts.append(1)
        if len(attempts) == 3:
            stop.set()
            return
        raise refusal

    monkeypatch.setattr(processor, "ensure_topics", nothing_to_create)
    monkeypatch.setattr(processor, "_run_once", refused_twice)
    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.processor"):
        asyncio.run(processor.run(asyncio.Event()))
    assert processor.failing is refusal
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", str(refusal))] * 2

    other = _Task(partition=1, restored=_Restored(stores={"counts": MemoryStore("counts")}), ready=True)
    _run(processor, other, [b"a"])
    assert processor.failing is refusal, "another task's commit does not get the stopped one past its record"
    _run(processor, _task(), [b"a"])
    assert processor.failing is None
