"""The derived flow's key: the group key. Every store look-up of the flow (``groups``) is by the group key of
the record in hand. Each input names the columns that make it (:meth:`DerivedConfig.key_columns`: a summed
table's ``group_by`` columns, the target table's key columns); they are read from the Kafka key (tombstones
route like their deletes) and, for a column outside the row's primary key, from the row image, so routing
needs no state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streams.codecs import decode_key
from streams.codecs.debezium.envelope import ChangeEvent, decode
from streams.errors import IsthmusError
from streams.flows.engine.api import Incoming, Store


def key_text(group: Sequence[Any]) -> str:
    """A group key as the flow's key and the command's entity key: one value as text, several joined by '/'."""
    return "/".join(str(v) for v in group)


class GroupKeys:
    """Routes each input by its group-key columns (:class:`~streams.flows.engine.repartition.KeyRouter`)."""

    stores: tuple[str, ...] = ()

    def __init__(self, columns: Mapping[str, tuple[str, ...]]) -> None:
        self.columns = dict(columns)

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        del stores
        columns = self.columns.get(record.topic, ())
        try:
            key = decode_key(record.key, where=f"{record.position} key") or {}
            if columns and not all(c in key for c in columns) and record.value is not None:
                event = decode(record.value, record.key, topic=record.topic, where=record.position)
                row = event.row if isinstance(event, ChangeEvent) else None
                key = {**(row or {}), **key}
        except IsthmusError:
            return [(None, record)]  # the flow dead-letters what it cannot read
        values = [key.get(c) for c in columns]
        if not columns or any(v is None for v in values):
            return [(None, record)]
        return [(key_text(values), record)]
