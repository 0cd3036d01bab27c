"""The rows the customer flow remembers, for a table whose updates and deletes carry no before-image.

A row is kept packed (:mod:`~streams.flows.engine.packed`: walked in C, times as integers), through an object
view (:mod:`~streams.flows.engine.objects`): decoded at most once a batch, written once per changed key when
the batch ends. A store written before rows were packed holds ``{"row": <tagged JSON>}``; it reads back as it
was written, and the row is packed the next time it changes.

A row is remembered from its first change the flow reads while it remembers the table. A change of a row read
before (a mapping change made the table remembered, or the flow started after the row was made) is placed by its
own before-image where the table's images are whole (MariaDB; PostgreSQL with REPLICA IDENTITY FULL). A delete
of such a row that carries only its key names no entity: it is dropped, counted and said (:class:`UnknownEnds`).
"""

from __future__ import annotations

import logging
from typing import Any

from streams.flows.customers.exceptions import CorruptState
from streams.flows.engine.api import Context, decode_json
from streams.flows.engine.packed import is_packed, pack, unpack
from streams.flows.engine.values import from_store
from streams.systems import Systems

log = logging.getLogger(__name__)

#: Counted per delete dropped because nothing is known of its row (:class:`UnknownEnds`).
UNKNOWN_ENDS = "ends_of_unknown_rows"

#: A remembered row (its columns as the change's after-image decoded them), or None: none remembered.
Row = dict[str, Any] | None


class RowCodec:
    """:class:`~streams.flows.engine.objects.ObjectCodec` of remembered rows."""

    #: A row is replaced whole, never changed in place (:class:`~streams.flows.engine.objects.ReplacedView`).
    replaced_whole = True

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


class UnknownEnds:
    """The deletes a flow drops because nothing is known of their row: it remembers no image of it, and the delete
    carries only the row's key (a PostgreSQL table whose replica identity is not FULL), so which entity the row
    was of cannot be told, and what it mapped stays there. Each is counted (:data:`UNKNOWN_ENDS`); the first of
    each table is said, with the fix: a snapshot of the table, after which every row is remembered."""

    def __init__(self, flow: str, record: str, systems: Systems) -> None:
        self._flow, self._record, self._systems = flow, record.rpartition(".")[2], systems
        self._said: set[tuple[str, str]] = set()

    def dropped(self, ctx: Context, system: str, table: str, row: str) -> None:
        ctx.count(UNKNOWN_ENDS)
        if (system, table) in self._said:
            return
        self._said.add((system, table))
        connector = self._systems[system].connector
        log.warning(
            "%s: the delete of %s.%s row %s changes nothing: the flow remembers no image of the row (it was read "
            "before the flow remembered the table's rows: before a mapping change made its entity be found through "
            "a look-up, or before the flow ran), and the delete carries only the row's key, so which %s it ends "
            "cannot be told and what the row mapped stays there. Fix: snapshot the table so that every row is "
            "remembered and its delete applies (`isthmus connectors snapshot %s --tables %s`), or give the table "
            "REPLICA IDENTITY FULL and re-run `isthmus mappings discover %s`; said once per table, every such "
            "delete counted as %s (isthmus_flow_events_total)", self._flow, system, table, row, self._record,
            connector or f"<{system}'s connector>", table, system, UNKNOWN_ENDS)
