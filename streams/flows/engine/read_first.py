"""A task's inputs read up to given offsets before any record after them (``FlowSpec.read_first``).

A new layout of a flow runs the history its previous layout acted on without sending its commands again
(:mod:`~streams.flows.engine.history`). What a record's handler sends may be another record's work (the transaction
join releases a transaction when the record it waited for arrives), so the history must be read before anything
after it: else a history record read late releases later work, which is dropped with the history's. The engine
hands a task only the records below each input's offset; an input that reaches its offset, or has none, is paused
(a record fetched past it is read again later) until every input has reached its own. This module is that
bookkeeping; :mod:`~streams.flows.engine.processor` seeks and pauses."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition


@dataclass
class ReadFirst:
    """The inputs of one task still below their offsets (``ahead``), and those held until none is (``held``)."""

    ahead: dict[TopicPartition, int]
    held: set[TopicPartition] = field(default_factory=set)
    #: When progress was last said (``time.monotonic``): from the start, every ``every`` seconds (:meth:`due`).
    said_at: float = field(default_factory=time.monotonic)

    def due(self, every: float) -> bool:
        """Whether progress is to be said now (then not again for ``every`` seconds)."""
        now = time.monotonic()
        if now - self.said_at < every:
            return False
        self.said_at = now
        return True

    @classmethod
    def at_start(cls, offsets: Mapping[tuple[str, int], int],
                 positions: Mapping[TopicPartition, int]) -> ReadFirst | None:
        """For a task starting at ``positions``: None when no input is below its offset (nothing to read first)."""
        ahead = {tp: offset for tp, at in positions.items()
                 if (offset := offsets.get((tp.topic, tp.partition))) is not None and at < offset}
        if not ahead:
            return None
        return cls(ahead=ahead, held={tp for tp in positions if tp not in ahead})

    def split(self, tp: TopicPartition, records: list[Any]) -> tuple[list[Any], int | None]:
        """Of ``records`` (fetched from ``tp``, in order), those to handle now, and the offset to read ``tp`` from
        again once every input has reached its offset (None: all are handled now). The input is then held."""
        offset = self.ahead.get(tp)
        if offset is None:  # held (every input not ahead is): fetched before its pause took effect
            return [], records[0].offset if records else None
        for at, record in enumerate(records):
            if record.offset >= offset:
                self.reached(tp)
                return records[:at], record.offset
        return records, None

    def reached(self, tp: TopicPartition) -> None:
        """``tp`` has been read up to its offset: held until the others are."""
        self.ahead.pop(tp, None)
        self.held.add(tp)

    @property
    def done(self) -> bool:
        """Every input has been read up to its offset."""
        return not self.ahead

    def shown(self) -> str:
        return ", ".join(f"{tp.topic}/{tp.partition} to {offset}" for tp, offset in
                         sorted(self.ahead.items(), key=lambda item: (item[0].topic, item[0].partition)))
