"""A new layout rebuilds its state from the history its previous layout acted on without sending it again: the
keying stage marks the records below its marks, the keyed flow keeps their state and drops their commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected, Store
from streams.flows.engine.history import (
    HISTORY_COMMANDS_DROPPED,
    HISTORY_CONFLICTS_DROPPED,
    HISTORY_DEAD_LETTERS_DROPPED,
    HISTORY_HEADER,
    HISTORY_RECORDS,
    HistoryMarks,
    furthest,
    previous_groups,
)
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import in_history, layout, partitioned

pytestmark = pytest.mark.unit

COMMANDS, CONFLICTS, CANONICAL = "isthmus.commands.erp", "isthmus.audit.conflicts", "isthmus.canonical.things"


class FirstByte:
    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        return [(None if not record.value else record.value[:1].decode(), record)]


def _handler(record: Incoming, ctx: Context) -> None:
    """Keeps each key's last value; sends a command, a conflict and a canonical record for it; rejects ``!``."""
    value = (record.value or b"").decode()
    if value.endswith("!"):
        raise Rejected(f"{value}: refused")
    ctx.stores["last"].put(value[:1], {"value": value})
    ctx.emit(COMMANDS, key=value[:1], value=record.value)
    ctx.emit(CONFLICTS, key=value[:1], value=record.value)
    ctx.emit(CANONICAL, key=value[:1], value=record.value)


SPEC = FlowSpec(name="probe", inputs=("in.a", "in.b"), handler=_handler, stores=("last",), key_by=FirstByte())


def _source(topic: str, offset: int, value: bytes) -> Incoming:
    return Incoming(topic=topic, partition=0, offset=offset, key=None, value=value, timestamp_ms=0)


def _run(marks: dict[tuple[str, int], int], records: list[Incoming]) -> tuple[LocalRun, LocalRun]:
    laid = partitioned(SPEC, 2)
    laid.history.marks = marks
    stage, flow = LocalRun(laid.stage), LocalRun(laid.flow)
    asyncio.run(stage.feed(records))
    asyncio.run(flow.feed([Incoming(topic=out.topic, partition=0, offset=at, key=out.key, value=out.value,
                                    timestamp_ms=0, headers=tuple(out.headers))
                           for at, out in enumerate(stage.context.emitted)]))
    return stage, flow


def test_the_stage_marks_only_the_records_below_their_partitions_mark() -> None:
    stage, _ = _run({("in.a", 0): 2}, [_source("in.a", 0, b"a1"), _source("in.a", 1, b"b1"),
                                       _source("in.a", 2, b"a2"), _source("in.b", 0, b"b2")])
    marked = [(dict(out.headers).get(HISTORY_HEADER), out.value) for out in stage.context.emitted]
    assert marked == [(b"1", b"a1"), (b"1", b"b1"), (None, b"a2"), (None, b"b2")]


def test_history_rebuilds_the_state_but_sends_no_command_conflict_or_dead_letter() -> None:
    _, flow = _run({("in.a", 0): 3}, [_source("in.a", 0, b"a1"), _source("in.a", 1, b"b1"),
                                      _source("in.a", 2, b"c!"), _source("in.a", 3, b"a2"),
                                      _source("in.a", 4, b"d!")])
    ctx = flow.context
    assert {k: v for k, v in ctx.memory["last"].items()} == {"a": {"value": "a2"}, "b": {"value": "b1"}}
    assert [(e.topic, e.value) for e in ctx.emitted] == [
        (CANONICAL, b"a1"), (CANONICAL, b"b1"),  # the history: its canonical records only
        (COMMANDS, b"a2"), (CONFLICTS, b"a2"), (CANONICAL, b"a2")]  # after the mark: as ever
    assert [letter.record.value for letter in ctx.dead_letters] == [b"d!"]  # c! was dead-lettered before
    assert ctx.counts[HISTORY_RECORDS] == 3 and ctx.counts[HISTORY_COMMANDS_DROPPED] == 2
    assert ctx.counts[HISTORY_CONFLICTS_DROPPED] == 2 and ctx.counts[HISTORY_DEAD_LETTERS_DROPPED] == 1


def test_without_marks_everything_is_acted_on_and_no_record_is_marked() -> None:
    stage, flow = _run({}, [_source("in.a", 0, b"a1"), _source("in.a", 1, b"a!")])
    assert not any(HISTORY_HEADER in dict(out.headers) for out in stage.context.emitted)
    assert [e.topic for e in flow.context.emitted] == [COMMANDS, CONFLICTS, CANONICAL]
    assert len(flow.context.dead_letters) == 1


def test_a_dead_letter_a_history_record_releases_in_a_scope_of_its_own_is_dropped_too() -> None:
    def releasing(record: Incoming, ctx: Context) -> None:
        with ctx.isolated(record):
            raise Rejected("a parked record released and refused")

    laid = partitioned(FlowSpec(name="rel", inputs=("in.a",), handler=releasing, key_by=FirstByte()), 2)
    laid.history.marks = {("in.a", 0): 1}
    stage, flow = LocalRun(laid.stage), LocalRun(laid.flow)
    asyncio.run(stage.feed([_source("in.a", 0, b"x")]))
    (out,) = stage.context.emitted
    asyncio.run(flow.feed([Incoming(topic=out.topic, partition=0, offset=0, key=out.key, value=out.value,
                                    timestamp_ms=0, headers=tuple(out.headers))]))
    assert flow.context.dead_letters == [] and flow.context.counts[HISTORY_DEAD_LETTERS_DROPPED] == 1


def test_the_handler_never_sees_the_history_header() -> None:
    seen: list[Incoming] = []
    laid = partitioned(FlowSpec(name="see", inputs=("in.a",), handler=lambda r, c: seen.append(r),
                                key_by=FirstByte()), 2)
    laid.history.marks = {("in.a", 0): 1}
    stage, flow = LocalRun(laid.stage), LocalRun(laid.flow)
    asyncio.run(stage.feed([_source("in.a", 0, b"x")]))
    (out,) = stage.context.emitted
    incoming = Incoming(topic=out.topic, partition=0, offset=0, key=out.key, value=out.value, timestamp_ms=0,
                        headers=tuple(out.headers))
    assert in_history(incoming)
    asyncio.run(flow.feed([incoming]))
    assert seen == [_source("in.a", 0, b"x")]


def test_the_end_of_the_history_is_logged_once_per_partition(caplog: pytest.LogCaptureFixture) -> None:
    marks = HistoryMarks(flow="probe", layout="probe-p2", marks={("in.a", 0): 2})
    with caplog.at_level(logging.INFO, logger="streams.flows.engine.history"):
        assert [marks.below(_source("in.a", o, b"x")) for o in range(4)] == [True, True, False, False]
    ended = [r for r in caplog.records if "history of in.a/0 ends at offset 2" in r.getMessage()]
    assert len(ended) == 1
    restarted = HistoryMarks(flow="probe", layout="probe-p2", marks={("in.a", 0): 2})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streams.flows.engine.history"):
        assert not restarted.below(_source("in.a", 5, b"x"))  # started past its history: nothing to say
    assert not caplog.records


def test_the_previous_layouts_groups_are_the_unpartitioned_one_and_the_other_keying_stages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    groups = ["probe", "probe-p2-keying", "probe-p3-keying", "probe-p3", "probe-p2", "probes", "other",
              "probe-p3-results-keying", "isthmus-sink-erp"]
    assert previous_groups("probe", 2, groups) == ["probe", "probe-p3-keying"]
    assert previous_groups("probe", 1, groups) == ["probe-p2-keying", "probe-p3-keying"]  # going back to 1
    monkeypatch.setenv("ISTHMUS_KAFKA_GROUP_PREFIX", "team.")
    assert previous_groups("probe", 3, ["team.probe", "team.probe-p2-keying", "probe"]) == [
        "team.probe", "team.probe-p2-keying"]


def test_the_marks_are_the_furthest_offsets_committed_on_the_inputs() -> None:
    committed = {"probe": {("in.a", 0): 40, ("in.b", 0): 7, ("probe-results-by-key", 0): 3},
                 "probe-p3-keying": {("in.a", 0): 55, ("in.b", 0): 2, ("in.b", 1): -1}}
    assert furthest(committed, ["in.a", "in.b"]) == {("in.a", 0): 55, ("in.b", 0): 7}


def test_marks_kept_merge_as_the_further_of_the_two() -> None:
    marks = HistoryMarks(flow="probe", layout="probe-p2", marks={("in.a", 0): 5, ("in.b", 2): 9},
                         groups=("probe",))
    again = HistoryMarks(flow="probe", layout="probe-p2")
    again.merge(marks.as_json())
    assert (again.marks, again.groups) == (marks.marks, marks.groups)
    again.merge(HistoryMarks(flow="probe", layout="probe-p2", marks={("in.a", 0): 7, ("in.b", 2): 3},
                             groups=("probe-p3-keying",)).as_json())
    assert again.marks == {("in.a", 0): 7, ("in.b", 2): 9} and again.groups == ("probe", "probe-p3-keying")


def test_going_back_to_one_partition_runs_what_the_partitioned_layout_acted_on_as_history() -> None:
    one = layout([SPEC], 1)
    (history,) = one.histories
    history.marks.marks = {("in.a", 0): 1}
    run = LocalRun(one.flows[0])
    asyncio.run(run.feed([_source("in.a", 0, b"a1"), _source("in.a", 1, b"a2")]))
    assert [(e.topic, e.value) for e in run.context.emitted] == [
        (CANONICAL, b"a1"), (COMMANDS, b"a2"), (CONFLICTS, b"a2"), (CANONICAL, b"a2")]
    assert run.context.memory["last"].get("a") == {"value": "a2"}
