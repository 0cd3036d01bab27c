"""Committable offsets: only the completed prefix of each partition, with its outputs."""

from __future__ import annotations

import pytest

from streams.sinks.offsets import Committable, ContiguousOffsets


def test_nothing_is_committable_until_the_first_record_completes() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    for offset in (10, 11, 12):
        offsets.track(0, offset)
    offsets.complete(0, 12, ("r12",))
    offsets.complete(0, 11, ("r11",))
    assert offsets.ready() == {}
    offsets.complete(0, 10, ("r10",))
    assert offsets.ready() == {0: Committable(next_offset=13, outputs=("r10", "r11", "r12"))}


def test_a_gap_stops_the_prefix_and_outputs_stay_in_offset_order() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    for offset in range(5):
        offsets.track(0, offset)
    for offset in (0, 1, 3, 4):
        offsets.complete(0, offset, (f"r{offset}",))
    assert offsets.ready()[0] == Committable(next_offset=2, outputs=("r0", "r1"))
    assert offsets.pending == 1 and offsets.tracked == 5


def test_offsets_need_not_be_consecutive() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    offsets.track(0, 3)
    offsets.track(0, 7)
    offsets.complete(0, 3)
    offsets.complete(0, 7)
    assert offsets.ready()[0].next_offset == 8


def test_partitions_are_independent() -> None:
    offsets: ContiguousOffsets[str, str] = ContiguousOffsets()
    offsets.track("p0", 0)
    offsets.track("p1", 0)
    offsets.track("p1", 1)
    offsets.complete("p1", 0)
    assert list(offsets.ready()) == ["p1"] and offsets.ready()["p1"].next_offset == 1


def test_confirm_forgets_what_the_commit_covered() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    for offset in range(3):
        offsets.track(0, offset)
    offsets.complete(0, 0, ("a",))
    offsets.complete(0, 1, ("b",))
    ready = offsets.ready()[0]
    offsets.complete(0, 2, ("c",))
    assert offsets.confirm(0, ready.next_offset) == 2
    assert offsets.ready()[0] == Committable(next_offset=3, outputs=("c",))
    assert offsets.tracked == 1


def test_a_pending_record_cannot_be_confirmed() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    offsets.track(0, 0)
    with pytest.raises(ValueError, match="not complete"):
        offsets.confirm(0, 1)


def test_offsets_must_arrive_in_order_and_be_tracked_before_completing() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    offsets.track(0, 5)
    with pytest.raises(ValueError, match="arrived after"):
        offsets.track(0, 5)
    with pytest.raises(KeyError):
        offsets.complete(0, 6)


def test_forget_drops_a_partition_and_its_pending_count() -> None:
    offsets: ContiguousOffsets[int, str] = ContiguousOffsets()
    offsets.track(0, 0)
    offsets.track(0, 1)
    offsets.complete(0, 0)
    assert offsets.forget(0) == 1
    assert offsets.pending == 0 and offsets.ready() == {}
