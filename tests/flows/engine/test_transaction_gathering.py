"""Batches handled while a task's transaction is in flight join its next transaction instead of each waiting to
commit alone (``EngineSettings.transaction_max_records``), and nothing gathered on a failed transaction commits."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.batches import OutRecord
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.stores import MemoryStore

pytestmark = pytest.mark.unit

TP = TopicPartition("in", 0)
#: How long the first transaction stays in flight.
HELD_S = 0.2


class _HeldCommit(FlowProcessor):
    """The engine's batch path with its transaction recorded; the first one completes only once ``release`` is
    set, or fails if ``fail_first``."""

    def __init__(self, *args: object, fail_first: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.release = asyncio.Event()
        self.fail_first = fail_first
        self.commits: list[tuple[list[OutRecord], dict[TopicPartition, int]]] = []

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        first = not self.commits
        self.commits.append((outgoing, dict(offsets)))
        if first:
            await self.release.wait()
            if self.fail_first:
                raise KafkaError("the broker refused the transaction")
        return {}


def _handler(record: Incoming, ctx: Context) -> None:
    ctx.stores["latest"].put((record.key or b"").decode(), {"offset": record.offset})
    ctx.emit("out", key=record.key, value=record.value)


def _processor(transaction_max_records: int = 10_000, fail_first: bool = False) -> tuple[_HeldCommit, _Task]:
    spec = FlowSpec(name="gather", inputs=("in",), handler=_handler, stores=("latest",), outputs=("out",))
    settings = EngineSettings(bootstrap_servers="127.0.0.1:9", batch_max_records=2,
                              transaction_max_records=transaction_max_records)
    processor = _HeldCommit(spec, settings, SchemaStore.from_directory(), fail_first=fail_first)
    task = _Task(partition=0, restored=_Restored(stores={"latest": MemoryStore("latest")}), ready=True)
    return processor, task


def _batch(first: int, count: int, keys: int = 2) -> list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    return [(TP, [ConsumerRecord(topic="in", partition=0, offset=o, timestamp=int(time.time() * 1000),
                                 timestamp_type=0, key=f"k{o % keys}".encode(), value=b"{}", checksum=None,
                                 serialized_key_size=2, serialized_value_size=2, headers=())
                  for o in range(first, first + count)])]


def _topics(outgoing: list[OutRecord]) -> list[tuple[str, bytes | None]]:
    return [(topic, key) for topic, _, key, _, _ in outgoing]


def test_batches_handled_while_a_transaction_commits_join_the_next_one() -> None:
    processor, task = _processor()

    async def run() -> float:
        await processor._process(task, _batch(0, 2))  # its transaction starts and stays in flight
        began = time.perf_counter()
        # Neither batch waits for the transaction in flight (before gathering, the first of them did).
        await asyncio.wait_for(processor._process(task, _batch(2, 2)), HELD_S / 2)
        await asyncio.wait_for(processor._process(task, _batch(4, 2)), HELD_S / 2)
        handled = time.perf_counter() - began
        assert len(processor.commits) == 1 and processor.transactions == 0
        processor.release.set()
        await processor._settled(task)
        return handled

    assert asyncio.run(run()) < HELD_S
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}, {TP: 6}]
    assert processor.transactions == 2 and processor.processed == 6 and processor.timings.commit.count == 2
    gathered, _ = processor.commits[1]
    changelog = processor.spec.changelog_topic("latest")
    # Every record the two batches emitted, then each key they changed once (its latest value).
    assert _topics(gathered) == [("out", f"k{o % 2}".encode()) for o in range(2, 6)] + [
        (changelog, b"k0"), (changelog, b"k1")]
    assert [raw for topic, _, _, raw, _ in gathered if topic == changelog] == [b'{"offset":4}', b'{"offset":5}']


def test_a_transaction_gathers_up_to_its_bound_then_waits_for_the_one_in_flight() -> None:
    processor, task = _processor(transaction_max_records=4)

    async def run() -> float:
        await processor._process(task, _batch(0, 2))
        asyncio.get_running_loop().call_later(HELD_S, processor.release.set)
        began = time.perf_counter()
        await processor._process(task, _batch(2, 2))  # 2 gathered, room for a batch more: the next one joins
        await processor._process(task, _batch(4, 2))  # 4: no room for another batch, it waits for the one in flight
        waited = time.perf_counter() - began
        await processor._settled(task)
        return waited

    assert asyncio.run(run()) >= HELD_S * 0.8
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}, {TP: 6}]
    assert processor.transactions == 2 and processor.processed == 6


def test_below_two_batches_every_batch_is_a_transaction_of_its_own() -> None:
    processor, task = _processor(transaction_max_records=3)

    async def run() -> None:
        await processor._process(task, _batch(0, 2))
        asyncio.get_running_loop().call_later(HELD_S / 4, processor.release.set)
        await processor._process(task, _batch(2, 2))
        await processor._process(task, _batch(4, 2))
        await processor._settled(task)

    asyncio.run(run())
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}, {TP: 4}, {TP: 6}]


def test_what_was_gathered_on_a_failed_transaction_never_commits() -> None:
    processor, task = _processor(fail_first=True)
    processor.tasks[0] = task

    async def run() -> None:
        await processor._process(task, _batch(0, 2))
        await processor._process(task, _batch(2, 2))  # gathered on the first batch's state
        processor.release.set()
        assert task.committing is not None
        with pytest.raises(KafkaError):
            await task.committing
        with pytest.raises(KafkaError):
            processor._raise_failed_commit()  # as the loop does after its next fetch: the flow restarts
        await processor._settled(task)  # as closing the task does

    asyncio.run(run())
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}], "the gathered batch committed after a failure"
    assert processor.transactions == 0 and processor.processed == 0


def test_a_task_whose_transaction_has_committed_commits_what_it_gathered_while_others_go_on() -> None:
    processor, task = _processor()
    other = _Task(partition=1, restored=_Restored(stores={"latest": MemoryStore("latest")}), ready=True)
    processor.tasks.update({0: task, 1: other})

    async def run() -> None:
        await processor._process(task, _batch(0, 2))
        await processor._process(task, _batch(2, 2))  # gathered behind the first transaction
        processor.release.set()
        assert task.committing is not None
        await task.committing
        # The next fetch brings records of the other task only: this one's gathered batch commits anyway.
        await processor._commit_unblocked()
        assert task.gathered is None and task.committing is not None
        await processor._settled(task)

    asyncio.run(run())
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}, {TP: 4}]


def test_a_batch_stopped_part_way_takes_what_was_gathered_with_it_out_of_every_transaction() -> None:
    processor, task = _processor()
    stop_at = 5

    def handler(record: Incoming, ctx: Context) -> None:
        if record.offset == stop_at:  # the flow is cancelled while its handler runs over a batch
            raise asyncio.CancelledError
        _handler(record, ctx)

    processor.spec = FlowSpec(name="gather", inputs=("in",), handler=handler, stores=("latest",), outputs=("out",))

    async def run() -> None:
        await processor._process(task, _batch(0, 2))
        await processor._process(task, _batch(2, 2))  # gathered behind the first transaction
        with pytest.raises(asyncio.CancelledError):
            await processor._process(task, _batch(4, 2))  # joins the gathered batch, stops after offset 4
        processor.release.set()
        await processor._settled(task)  # as closing the task does

    asyncio.run(run())
    assert [offsets for _, offsets in processor.commits] == [{TP: 2}], "a batch handled in part committed"
