"""A batch's handling that holds the event loop past half the session timeout is said, naming the setting (a new
user's worker lost its group ten times in five minutes behind a bulk job, and only aiokafka's "Heartbeat session
expired" said anything); and the engine yields by time too, not only every 128 records, so slow records still let
the group's heartbeats through."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.batches import OutRecord
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.stores import MemoryStore

pytestmark = pytest.mark.unit


class _Uncommitted(FlowProcessor):
    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        return {}


def _message(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="in", partition=0, offset=offset, timestamp=int(time.time() * 1000),
                          timestamp_type=0, key=b"k", value=b"{}", checksum=None, serialized_key_size=1,
                          serialized_value_size=2, headers=())


def _run(delay_s: float, session_timeout_ms: int, records: int) -> list[float]:
    """The batch handled with each record taking ``delay_s``; when a ticker got its turns meanwhile."""
    turns: list[float] = []

    def handler(record: Incoming, ctx: Context) -> None:
        time.sleep(delay_s)

    processor = _Uncommitted(FlowSpec(name="slow", inputs=("in",), handler=handler, stores=(), outputs=()),
                             EngineSettings(bootstrap_servers="127.0.0.1:9", session_timeout_ms=session_timeout_ms),
                             SchemaStore.from_directory())
    task = _Task(partition=0, restored=_Restored(stores={"x": MemoryStore("x")}), ready=True)

    async def batch() -> None:
        done = False

        async def ticker() -> None:
            while not done:
                turns.append(time.perf_counter())
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await processor._process(task, [(TopicPartition("in", 0), [_message(i) for i in range(records)])])
        done = True
        await ticking

    asyncio.run(batch())
    return turns


def test_slow_records_still_yield_within_a_turn(caplog: pytest.LogCaptureFixture) -> None:
    turns = _run(0.05, session_timeout_ms=60_000, records=30)  # 1.5 s of handling, far fewer than 128 records
    assert len(turns) >= 1 + 4, "the batch yielded no turn to the group's heartbeats in 1.5 s"
    assert "held the worker's event loop" not in caplog.text


def test_a_record_holding_the_loop_past_half_the_session_timeout_is_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    _run(0.1, session_timeout_ms=100, records=12)  # past a turn (0.25 s), it had held the loop over 50 ms
    said = [r.getMessage() for r in caplog.records if "held the worker's event loop" in r.getMessage()]
    assert len(said) == 1, said
    assert re.search(r"slow: handling the records up to in/0@\d+ held the worker's event loop \d+\.\d s", said[0])
    assert "over half its session timeout (100 ms)" in said[0] and "ISTHMUS_WORKER_SESSION_TIMEOUT_MS" in said[0]
