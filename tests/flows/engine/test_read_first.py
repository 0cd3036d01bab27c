"""A task's inputs read up to their offsets first (``FlowSpec.read_first``): what it hands the handler of a fetched
batch, what it reads again later, and when every input goes on. The engine's seeks and pauses around it run on
the real Kafka in test_history_integration.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from streams.flows.engine.api import FlowSpec, Incoming
from streams.flows.engine.read_first import ReadFirst
from streams.flows.engine.repartition import layout

pytestmark = pytest.mark.unit

A, B, C = TopicPartition("a", 0), TopicPartition("b", 0), TopicPartition("c", 0)


@dataclass(frozen=True)
class _Fetched:
    offset: int


def _fetched(*offsets: int) -> list[_Fetched]:
    return [_Fetched(o) for o in offsets]


def test_nothing_is_read_first_when_every_input_starts_at_or_after_its_offset() -> None:
    assert ReadFirst.at_start({("a", 0): 5, ("b", 0): 3}, {A: 5, B: 9}) is None
    assert ReadFirst.at_start({}, {A: 0}) is None


def test_inputs_below_their_offsets_are_read_and_the_others_held() -> None:
    first = ReadFirst.at_start({("a", 0): 5, ("b", 0): 3}, {A: 2, B: 3, C: 0})
    assert first is not None
    assert first.ahead == {A: 5} and first.held == {B, C}
    assert first.shown() == "a/0 to 5"


def test_a_batch_is_cut_at_the_offset_and_the_input_held_from_there() -> None:
    first = ReadFirst(ahead={A: 5, B: 9})
    now, again = first.split(A, _fetched(3, 4, 6, 7))  # 5 was a transaction marker
    assert [r.offset for r in now] == [3, 4] and again == 6
    assert first.ahead == {B: 9} and first.held == {A} and not first.done
    now, again = first.split(B, _fetched(7, 8))
    assert [r.offset for r in now] == [7, 8] and again is None and first.ahead == {B: 9}
    first.reached(B)  # its position got to 9 past markers, with no record at 9 handed out
    assert first.done and first.held == {A, B}


def test_records_of_a_held_input_fetched_before_its_pause_are_read_again() -> None:
    first = ReadFirst(ahead={A: 5}, held={B})
    now, again = first.split(B, _fetched(10, 11))
    assert list(now) == [] and again == 10


class _Whole:
    """Keys every record alike; keeps no state."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: object) -> list[tuple[str | None, Incoming]]:
        return [(None, record)]


def test_the_flow_going_back_to_one_partition_and_the_keying_stage_read_their_marks_first() -> None:
    spec = FlowSpec(name="f", inputs=("in",), handler=lambda record, ctx: None, key_by=_Whole())
    one = layout([spec], 1)
    (flow,), (history,) = one.flows, one.histories
    history.marks.marks = {("in", 0): 4}  # taken after the layout is built (repartition.prepare)
    assert flow.read_first is not None and flow.read_first() == {("in", 0): 4}
    two = layout([spec], 2)
    (stage, keyed), (history,) = two.flows, two.histories
    history.marks.marks = {("in", 0): 7}
    assert stage.read_first is not None and stage.read_first() == {("in", 0): 7}
    assert keyed.read_first is None  # its input is the stage's output, which the stage wrote history first


def test_progress_is_due_once_a_period_has_passed_since_it_was_last_said() -> None:
    first = ReadFirst(ahead={A: 5}, said_at=0.0)
    assert first.due(5.0)
    assert not first.due(5.0)  # just said
