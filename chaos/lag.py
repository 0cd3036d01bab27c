"""Whether the flows and sinks have read their inputs to the end: one of the quiescence conditions.

Quiet topics alone do not mean convergence: a worker whose writes Kafka refuses (a partition below
``min.insync.replicas``), or that waits on a hanging transaction, leaves every topic quiet while its inputs
wait unread. A consumer group is caught up on a partition when no committed record lies between its committed
offset and the partition's read_committed end (the last stable offset). The gap is rarely zero: a
transactional consumer commits "last record + 1", and the commit marker after that record takes an offset of
its own, so the gap is checked for records, not for its size."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: The consumer groups of Isthmus's flows (``isthmus-customers``, ``isthmus-orders``, ...) and sinks
#: (``isthmus-sink-erp``, ``isthmus-sink-crm``): every group id the chaos run's processes use starts with it.
GROUP_PREFIX = "isthmus-"


@dataclass(frozen=True, kw_only=True)
class GroupPosition:
    """A group's committed offset on one partition, and the partition's read_committed end offset."""

    group: str
    topic: str
    partition: int
    #: None when the group committed nothing there yet: it starts at the partition's beginning.
    committed: int | None
    end: int

    def describe(self) -> str:
        at = "nothing committed" if self.committed is None else f"committed {self.committed:,}"
        return f"{self.group} on {self.topic}[{self.partition}] ({at}, end {self.end:,})"


#: Whether a committed record lies in [start, end) of a topic's partition; start None means its beginning.
HasRecords = Callable[[str, int, int | None, int], bool]


def behind(positions: Iterable[GroupPosition], has_records: HasRecords) -> list[str]:
    """The positions whose group has committed records left to read, described; empty when every group is
    caught up. Only gaps are asked about (``has_records`` reads Kafka)."""
    late = []
    for p in positions:
        if p.committed is not None and p.committed >= p.end:
            continue
        if has_records(p.topic, p.partition, p.committed, p.end):
            late.append(p.describe())
    return late


__all__ = ["GROUP_PREFIX", "GroupPosition", "HasRecords", "behind"]
