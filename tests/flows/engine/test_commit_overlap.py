"""A batch's transaction completes while the next batch is handled, not after it: the handler never waits, so the
engine turns the event loop over between records for the transaction in flight to go on."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.batches import OutRecord
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.stores import MemoryStore

pytestmark = pytest.mark.unit

#: Round trips of the stand-in transaction, each answered at once (add partitions, offsets, end transaction).
ROUND_TRIPS = 4


class _SteppedCommit(FlowProcessor):
    """The engine's batch path with its transaction replaced by ``ROUND_TRIPS`` turns of the event loop."""

    committed_batches: int = 0

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        for _ in range(ROUND_TRIPS):
            await asyncio.sleep(0)
        self.committed_batches += 1
        return {}


def _message(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="in", partition=0, offset=offset, timestamp=int(time.time() * 1000),
                          timestamp_type=0, key=f"k{offset}".encode(), value=b"{}", checksum=None,
                          serialized_key_size=2, serialized_value_size=2, headers=(("h", b"1"),))


def test_the_previous_batch_commits_while_the_next_one_is_handled() -> None:
    seen_committed: list[int] = []
    processor: _SteppedCommit

    def handler(record: Incoming, ctx: Context) -> None:
        ctx.stores["latest"].put((record.key or b"").decode(), {"offset": record.offset})
        ctx.emit("out", key=record.key, value=record.value, headers=dict(record.headers))
        seen_committed.append(processor.committed_batches)

    processor = _SteppedCommit(FlowSpec(name="overlap", inputs=("in",), handler=handler, stores=("latest",),
                                        outputs=("out",)),
                               EngineSettings(bootstrap_servers="127.0.0.1:9"), SchemaStore.from_directory())
    task = _Task(partition=0, restored=_Restored(stores={"latest": MemoryStore("latest")}), ready=True)
    tp = TopicPartition("in", 0)

    async def two_batches() -> None:
        await processor._process(task, [(tp, [_message(i) for i in range(1000)])])
        await processor._process(task, [(tp, [_message(i) for i in range(1000, 2000)])])
        await processor._settled(task)

    asyncio.run(two_batches())
    assert processor.committed_batches == 2 and processor.processed == 2000
    second = seen_committed[1000:]
    assert second[0] == 0, "the first batch's transaction was still in flight when the second batch began"
    assert second[-1] == 1, ("the first batch's transaction only completed after the whole second batch was "
                             "handled: its round trips did not overlap the handler")
