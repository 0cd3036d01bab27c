"""Which inputs a tick is told are read to their end: a worker compares the end offsets (last stable offsets)
fetched at the tick with what each task has handled; ``LocalRun``, which has handled every record fed, counts
every input unless told otherwise."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from streams.flows.engine.api import Context, FlowSpec, Incoming, Ticking, Waiting
from streams.flows.engine.local import LocalRun
from streams.flows.engine.processor import read_to_end

pytestmark = pytest.mark.unit

A0, B0, A1 = TopicPartition("a", 0), TopicPartition("b", 0), TopicPartition("a", 1)


def test_an_input_is_read_to_its_end_when_handled_up_to_its_end_offset() -> None:
    handled = {A0: 12, B0: 7}
    assert read_to_end((A0, B0), handled, {A0: 12, B0: 9}) == frozenset({"a"})
    assert read_to_end((A0, B0), handled, {A0: 13, B0: 7}) == frozenset({"b"})


def test_an_input_without_an_end_offset_or_a_handled_offset_is_not() -> None:
    assert read_to_end((A0, B0), {A0: 12}, {B0: 0}) == frozenset()  # a's end unknown, b's handled unknown
    assert read_to_end((A1,), {A0: 5}, {A0: 5, A1: 0}) == frozenset()  # another task's partition


def _ticking_flow(seen: list[Ticking]) -> FlowSpec:
    def tick(ctx: Context, ticking: Ticking) -> Waiting:
        seen.append(ticking)
        return Waiting()

    def handle(record: Incoming, ctx: Context) -> None:
        return None

    return FlowSpec(name="f", inputs=("a", "b"), handler=handle, tick=tick)


def test_local_run_counts_every_input_read_to_its_end_unless_told() -> None:
    seen: list[Ticking] = []
    run = LocalRun(_ticking_flow(seen))
    run.tick(100.0, 30.0)
    run.tick(read_to_end=("b",))
    assert seen == [Ticking(now_s=100.0, hold_after_s=30.0, read_to_end=frozenset({"a", "b"})),
                    Ticking(now_s=0.0, hold_after_s=300.0, read_to_end=frozenset({"b"}))]
