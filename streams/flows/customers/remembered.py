"""The rows the customer flow remembers, for a table whose updates and deletes carry no before-image.

A row is kept packed (:mod:`~streams.flows.engine.packed`: walked in C, times as integers), through an object
view (:mod:`~streams.flows.engine.objects`): decoded at most once a batch, written once per changed key when
the batch ends. A store written before rows were packed holds ``{"row": <tagged JSON>}``; it reads back as it
was written, and the row is packed the next time it changes.
"""

from __future__ import annotations

from typing import Any

from streams.flows.customers.exceptions import CorruptState
from streams.flows.engine.api import decode_json
from streams.flows.engine.packed import is_packed, pack, unpack
from streams.flows.engine.values import from_store

#: A remembered row (its columns as the change's after-image decoded them), or None: none remembered.
Row = dict[str, Any] | None


class RowCodec:
    """:class:`~streams.flows.engine.objects.ObjectCodec` of remembered rows."""

    def decode(self, key: str, raw: bytes | None) -> Row:
        if raw is None:
            return None
        row = unpack(raw) if is_packed(raw) else from_store((decode_json(raw) or {}).get("row"))
        if not isinstance(row, dict):
            raise CorruptState(f"the remembered row {key} is {type(row).__name__}, not an object of columns")
        return row

    def encode(self, key: str, value: Row) -> bytes | None:
        return None if value is None else pack(value)

    def copy(self, value: Row) -> Row:
        return value  # a row is replaced whole, never changed in place


ROWS_CODEC = RowCodec()
