"""The dashboard's dead letters, read incrementally: new letters fold into the tally, a reset starts it over."""

from __future__ import annotations

import pytest

from streams.dashboard.deadletters import DeadLetterTally
from streams.sinks.dlq import DeadLetterEntry, DeadLettersRead, ReplayMark

pytestmark = pytest.mark.unit


def letters(*offsets: int, stage: str = "flow.isthmus-orders") -> list[DeadLetterEntry]:
    return [DeadLetterEntry(partition=0, offset=o, timestamp_ms=o, letter={"stage": stage, "reason": "bad"})
            for o in offsets]


def test_each_read_adds_only_what_is_new_and_resumes_where_it_stopped() -> None:
    tally = DeadLetterTally(shown=3)
    tally.add(DeadLettersRead(entries=letters(0, 1), ends={0: 2}, from_start=False))
    tally.add(DeadLettersRead(entries=letters(2, 3, stage="sink.erp"), ends={0: 4}, from_start=False))
    tally.add(DeadLettersRead(entries=[], ends={0: 4}, from_start=False))
    assert tally.positions == {0: 4}  # the next sample reads from offset 4 on
    assert tally.count == 4
    assert dict(tally.by_stage) == {"flow.isthmus-orders": 2, "sink.erp": 2}
    assert [e.offset for e in tally.newest()] == [3, 2, 1]  # the newest first, no more than shown


def test_a_topic_made_again_is_counted_from_its_start() -> None:
    tally = DeadLetterTally()
    tally.add(DeadLettersRead(entries=letters(0, 1, 2), ends={0: 3}, from_start=False))
    tally.add(DeadLettersRead(entries=letters(0), ends={0: 1}, from_start=True))
    assert tally.count == 1 and [e.offset for e in tally.newest()] == [0]


def test_a_hold_the_dashboard_cannot_decode_does_not_stop_the_sample() -> None:
    from streams.dashboard.sources import held_now

    newest_first = [{"key": "isthmus-orders:Account|id=1", "value": "c301ab..."},
                    {"key": "SO-1", "value": {"state": "held", "cause": "waiting_for"}}]
    assert [r["key"] for r in held_now(newest_first)] == ["SO-1"]


def test_a_replay_read_in_a_later_sample_marks_the_letter_read_before() -> None:
    tally = DeadLetterTally()
    tally.add(DeadLettersRead(entries=letters(0, 1, 2), ends={0: 3}, from_start=False))
    assert tally.pending == 3 and {e.status for e in tally.newest()} == {"pending"}
    stored = ReplayMark(way="as_stored", where="isthmus.commands.erp[0]@9")
    tally.add(DeadLettersRead(entries=[], ends={0: 4}, from_start=False, marks=(((0, 1), stored),)))
    assert tally.pending == 2
    assert {e.offset: e.status for e in tally.newest()} == {0: "pending", 1: "replayed", 2: "pending"}
    # its replay became a dead letter of its own: pending again, and counted as one more
    again = ReplayMark(way="failed_again", where="0:5")
    tally.add(DeadLettersRead(entries=letters(5), ends={0: 6}, from_start=False, marks=(((0, 1), again),)))
    assert tally.pending == 4 and tally.newest()[-2].status == "failed again"
    assert [str(m) for m in tally.newest()[-2].replays] == [
        "replayed as stored to isthmus.commands.erp[0]@9", "failed again: 0:5"]
    tally.add(DeadLettersRead(entries=letters(0), ends={0: 1}, from_start=True))
    assert tally.pending == 1 and not tally.marks, "a topic made again: its replays are gone too"
