"""Which offsets may be committed: per partition, the longest prefix of fetched records that are complete.

Records of different entities complete out of order; the committed offset of a partition only moves past a
record once it and every record fetched before it in that partition are complete, so a restart never skips
an unapplied command. Each completed record may carry outputs (its result or dead letter) that are written
in the same Kafka transaction that commits its offset.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

P = TypeVar("P")
O = TypeVar("O")  # noqa: E741

_PENDING = object()


@dataclass(frozen=True, kw_only=True)
class Committable(Generic[O]):
    """Commit ``next_offset`` (the offset of the next record to read) together with ``outputs``."""

    next_offset: int
    outputs: tuple[O, ...] = field(default=())


class ContiguousOffsets(Generic[P, O]):
    def __init__(self) -> None:
        self._partitions: dict[P, OrderedDict[int, object]] = {}
        self._pending = 0

    def track(self, partition: P, offset: int) -> None:
        """A record was fetched; offsets of a partition must arrive in increasing order."""
        entries = self._partitions.setdefault(partition, OrderedDict())
        if entries and offset <= next(reversed(entries)):
            raise ValueError(f"offset {offset} of {partition} arrived after {next(reversed(entries))}")
        entries[offset] = _PENDING
        self._pending += 1

    def complete(self, partition: P, offset: int, outputs: tuple[O, ...] = ()) -> None:
        entries = self._partitions.get(partition)
        if entries is None or offset not in entries:
            raise KeyError(f"offset {offset} of {partition} is not tracked")
        if entries[offset] is _PENDING:
            self._pending -= 1
        entries[offset] = outputs

    def replace(self, partition: P, offset: int, old: O, new: O) -> None:
        """Put ``new`` in place of ``old`` among the outputs of a completed record (one Kafka refused)."""
        entries = self._partitions.get(partition)
        outputs = entries.get(offset, _PENDING) if entries is not None else _PENDING
        if entries is None or outputs is _PENDING:
            raise KeyError(f"offset {offset} of {partition} is not complete")
        entries[offset] = tuple(new if output is old else output for output in cast(tuple[O, ...], outputs))

    def ready(self) -> dict[P, Committable[O]]:
        """Per partition with progress: the offset to commit and the outputs of the records it covers."""
        found: dict[P, Committable[O]] = {}
        for partition, entries in self._partitions.items():
            last: int | None = None
            outputs: list[O] = []
            for offset, value in entries.items():
                if value is _PENDING:
                    break
                last = offset
                outputs.extend(cast(tuple[O, ...], value))
            if last is not None:
                found[partition] = Committable(next_offset=last + 1, outputs=tuple(outputs))
        return found

    def confirm(self, partition: P, next_offset: int) -> int:
        """The commit up to ``next_offset`` succeeded: forget the records it covered; returns how many."""
        entries = self._partitions.get(partition)
        if entries is None:
            return 0
        removed = 0
        while entries:
            offset = next(iter(entries))
            if offset >= next_offset:
                break
            if entries[offset] is _PENDING:
                raise ValueError(f"offset {offset} of {partition} is not complete and cannot be committed")
            del entries[offset]
            removed += 1
        return removed

    def heads(self) -> dict[P, int]:
        """Per partition with records tracked: the first one's offset (nothing before it is left to commit)."""
        return {partition: next(iter(entries)) for partition, entries in self._partitions.items() if entries}

    def first_pending(self) -> dict[P, int]:
        """Per partition with a record not complete: the first such, which holds back the partition's commit."""
        found: dict[P, int] = {}
        for partition, entries in self._partitions.items():
            for offset, value in entries.items():
                if value is _PENDING:
                    found[partition] = offset
                    break
        return found

    def forget(self, partition: P) -> int:
        """Drop a partition (revoked); returns how many tracked records were still pending."""
        entries = self._partitions.pop(partition, OrderedDict())
        pending = sum(1 for v in entries.values() if v is _PENDING)
        self._pending -= pending
        return pending

    @property
    def pending(self) -> int:
        """Fetched records not complete yet."""
        return self._pending

    @property
    def tracked(self) -> int:
        """Fetched records not committed yet, complete or not: what the in-flight bound counts."""
        return sum(len(entries) for entries in self._partitions.values())
