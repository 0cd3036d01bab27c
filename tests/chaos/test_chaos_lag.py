"""The quiescence check's consumer-lag condition (chaos/lag.py): quiet topics are not convergence while a
flow's or sink's group has committed records left to read."""

from __future__ import annotations

import pytest

from chaos.lag import GroupPosition, behind

pytestmark = pytest.mark.unit


def position(committed: int | None, end: int, *, group: str = "isthmus-orders", partition: int = 0) -> GroupPosition:
    return GroupPosition(group=group, topic="crm.crm.sales_orders", partition=partition, committed=committed,
                         end=end)


def test_a_group_at_the_end_is_caught_up_without_reading_kafka() -> None:
    asked: list[tuple[str, int, int | None, int]] = []

    def has_records(topic: str, partition: int, start: int | None, end: int) -> bool:
        asked.append((topic, partition, start, end))
        return True

    assert behind([position(120, 120), position(121, 120)], has_records) == []
    assert asked == []


def test_a_gap_holding_only_a_commit_marker_is_caught_up() -> None:
    # A transactional consumer commits "last record + 1"; the marker after that record has its own offset.
    def marker_only(topic: str, partition: int, start: int | None, end: int) -> bool:
        return False

    assert behind([position(119, 120)], marker_only) == []


def test_a_blocked_group_with_records_left_is_behind_even_when_every_topic_is_quiet() -> None:
    unread = {("crm.crm.sales_orders", 1)}

    def has_records(topic: str, partition: int, start: int | None, end: int) -> bool:
        return (topic, partition) in unread

    late = behind([position(119, 120), position(80, 120, partition=1),
                   position(None, 40, group="isthmus-sink-erp", partition=1)], has_records)
    assert late == ["isthmus-orders on crm.crm.sales_orders[1] (committed 80, end 120)",
                    "isthmus-sink-erp on crm.crm.sales_orders[1] (nothing committed, end 40)"]
