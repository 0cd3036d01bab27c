"""What `isthmus status` counts as waiting for a group (streams/cli/pipeline.py): records, read from the few offsets
past its committed one, not offsets, which an exactly-once producer's commit and abort markers take too."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from streams.cli import pipeline
from streams.inspect.admin import LagRow
from streams.inspect.decoding import RawRecord

COMMANDS, CHANGES = "isthmus.commands.ledger", "shop.shop.parcels"


def row(group: str, topic: str, partition: int, committed: int | None, end: int) -> LagRow:
    return LagRow(group=group, topic=topic, partition=partition, committed=committed, end=end)


def record(topic: str, partition: int, offset: int) -> RawRecord:
    return RawRecord(topic=topic, partition=partition, offset=offset, timestamp_ms=1_000 + offset, key=None,
                     value=b"{}")


class Topics:
    """Each partition's record offsets (the offsets between are markers and aborted records), and the spans asked."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[int]] = {}
        self.asked: list[dict[tuple[str, int], tuple[int, int]]] = []

    def read_spans(self, kafka: object, spans: Mapping[tuple[str, int], tuple[int, int]]) -> list[RawRecord]:
        self.asked.append(dict(spans))
        return [record(topic, partition, offset) for (topic, partition), (begin, end) in spans.items()
                for offset in self.records.get((topic, partition), ()) if begin <= offset < end]

    def waiting(self, *rows: LagRow) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]], dict[str, int]]:
        return pipeline.waiting_records(object(), rows)  # type: ignore[arg-type]


@pytest.fixture
def topics(monkeypatch: pytest.MonkeyPatch) -> Topics:
    found = Topics()
    monkeypatch.setattr(pipeline, "read_spans", found.read_spans)
    return found


def test_a_commit_marker_left_past_the_committed_offset_is_nothing_waiting(topics: Topics) -> None:
    # each partition: records 0..2 committed (marker at 3), and on partition 1 an aborted record and its marker too
    topics.records[(CHANGES, 0)] = [0, 1, 2]
    topics.records[(CHANGES, 1)] = [0, 1, 2]
    counted, about, oldest = topics.waiting(
        row("isthmus-parcels", CHANGES, 0, committed=3, end=4), row("isthmus-parcels", CHANGES, 1, committed=3, end=6))
    assert counted == {("isthmus-parcels", CHANGES): 0}
    assert about == set() and oldest == {}


def test_records_past_markers_are_counted_and_the_oldest_named(topics: Topics) -> None:
    topics.records[(COMMANDS, 0)] = [0, 1, 2, 4, 5, 7]  # 3 and 6 are markers: 4, 5 and 7 wait
    topics.records[(COMMANDS, 2)] = [9]
    counted, _, oldest = topics.waiting(
        row("isthmus-sink-ledger", COMMANDS, 0, committed=3, end=8),
        row("isthmus-sink-ledger", COMMANDS, 1, committed=None, end=4),
        row("isthmus-sink-ledger", COMMANDS, 2, committed=9, end=11))
    assert counted == {("isthmus-sink-ledger", COMMANDS): 4}
    assert oldest == {"isthmus-sink-ledger": 1_004}


def test_a_long_lag_is_offsets_about_and_only_its_first_offsets_are_read(topics: Topics) -> None:
    topics.records[(COMMANDS, 0)] = list(range(100, 10_000))
    counted, about, oldest = topics.waiting(row("isthmus-sink-ledger", COMMANDS, 0, committed=99, end=10_001))
    assert counted == {("isthmus-sink-ledger", COMMANDS): 9_902}
    assert about == {("isthmus-sink-ledger", COMMANDS)}
    assert oldest == {"isthmus-sink-ledger": 1_100}
    assert topics.asked == [{(COMMANDS, 0): (99, 99 + pipeline.EXACT_LAG)}]


def test_groups_on_one_partition_share_one_read(topics: Topics) -> None:
    topics.records[(CHANGES, 0)] = [10, 11, 13]
    counted, _, _ = topics.waiting(row("isthmus-parcels", CHANGES, 0, committed=10, end=14),
                                   row("isthmus-stock", CHANGES, 0, committed=12, end=14))
    assert counted == {("isthmus-parcels", CHANGES): 3, ("isthmus-stock", CHANGES): 1}
    assert topics.asked == [{(CHANGES, 0): (10, 14)}]


def test_groups_far_apart_on_one_partition_are_read_apart(topics: Topics) -> None:
    topics.records[(CHANGES, 0)] = list(range(100_000))
    counted, about, _ = topics.waiting(row("isthmus-parcels", CHANGES, 0, committed=10, end=100_000),
                                       row("isthmus-stock", CHANGES, 0, committed=99_990, end=100_000))
    assert counted == {("isthmus-parcels", CHANGES): 99_990, ("isthmus-stock", CHANGES): 10}
    assert about == {("isthmus-parcels", CHANGES)}
    assert topics.asked == [{(CHANGES, 0): (10, 10 + pipeline.EXACT_LAG)}, {(CHANGES, 0): (99_990, 100_000)}]
