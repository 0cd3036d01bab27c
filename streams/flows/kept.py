"""Change events a transaction join decoded, kept for the step that uses them when the transaction ends.

A change that waits for its source transaction is decoded when it arrives (to see which transaction it is of)
and was decoded again when the transaction was released: a sixth of the customer flow's handler, and as much in
the orders flow (issue 17). The join keeps the event by the record's position, beside the value's bytes; the
step takes it back if the record is the one decoded (same position, same bytes), else decodes again. Decoding is
a pure function of the value and topic, so the event kept is the one decoding again would give.
"""

from __future__ import annotations

from streams.codecs.debezium.envelope import ChangeEvent
from streams.flows.engine.api import Incoming

#: Events kept at most; the oldest is dropped past this many (a change whose transaction waits long is decoded
#: again, no more). Bounds the memory they hold: ~10 MB of values and events at worst with changes of ~5 KB.
KEPT = 1_024


class KeptEvents:
    """Decoded change events by record position (bounded; see the module's docstring)."""

    def __init__(self, limit: int = KEPT) -> None:
        self.limit = limit
        self._kept: dict[tuple[str, int, int], tuple[bytes, ChangeEvent]] = {}

    def keep(self, record: Incoming, event: ChangeEvent) -> None:
        assert record.value is not None
        kept = self._kept
        if len(kept) >= self.limit:
            del kept[next(iter(kept))]
        kept[(record.topic, record.partition, record.offset)] = (record.value, event)

    def peek(self, record: Incoming) -> ChangeEvent | None:
        """The event kept for ``record``, left kept; None when there is none."""
        kept = self._kept.get((record.topic, record.partition, record.offset))
        if kept is None or kept[0] != record.value:
            return None
        return kept[1]

    def take(self, record: Incoming) -> ChangeEvent | None:
        """The event kept for ``record`` (the same position and value bytes), taken out; None when there is none."""
        kept = self._kept.pop((record.topic, record.partition, record.offset), None)
        if kept is None or kept[0] != record.value:
            return None
        return kept[1]
