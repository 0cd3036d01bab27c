"""A flow's tick that produces nothing leaves a store on disk paired with the right batches.

Taking a store's changes opens a batch the store settles in order (``committed``). A tick with nothing to
produce took the (empty) changes and never settled them, so the next transaction's commit settled that
empty batch instead of its own: its changes never reached the disk with their changelog position, and a
later batch without changelog writes met them (``AssertionError: changes were sent to the changelog``,
both workers of the initial-sync bench on ``ISTHMUS_STORE=rocksdb``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Waiting
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.rocks import RocksStore

pytestmark = pytest.mark.unit


def _quiet_tick(ctx: Context, now: float, hold_after_s: float) -> Waiting:
    return Waiting()


def test_a_tick_with_nothing_to_produce_keeps_the_next_commit_on_disk(tmp_path: Path) -> None:
    spec = FlowSpec(name="f", inputs=("in",), handler=lambda ctx, record: None, stores=("s",), tick=_quiet_tick)
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers="127.0.0.1:1", tick_interval_s=0.0),
                              SchemaStore.from_directory())
    store = RocksStore("s", tmp_path / "s", topic=spec.changelog_topic("s"), partition=0, cache_mb=8)
    processor.tasks[0] = _Task(partition=0, restored=_Restored(stores={"s": store}), ready=True)

    asyncio.run(processor._tick())  # nothing parked, nothing produced
    store.put("a", {"n": 1})  # the next batch: its changes taken, its transaction committed up to offset 1
    assert store.take_changes() == {"a": b'{"n":1}'}
    store.committed(1)
    store.close()

    reopened = RocksStore("s", tmp_path / "s", topic=spec.changelog_topic("s"), partition=0, cache_mb=8)
    assert reopened.position == 1
    assert dict(reopened.items()) == {"a": {"n": 1}}
    reopened.close()
