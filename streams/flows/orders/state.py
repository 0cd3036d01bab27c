"""The ``document`` flow's state, over its stores.

Stores (JSON objects, canonical values kept exact with :mod:`streams.flows.engine.values`):

- ``documents``: per document key (the header's key), the origin's header row and the target's mapped
  header (each under its system's name), what was commanded, the origin mirror of the written-back fields.
- ``lines``: per header reference (what the origin's lines name their header by), the document key (once
  known) and the origin's lines by line id. Lines live apart from the header because a snapshot may deliver
  lines before their header.
- ``index``: ``party=<key>`` -> the documents of a party; ``wait=<look-up>`` -> the documents waiting for a
  look-up (their party not known yet); ``no_account`` -> the documents ready to go whose party has no account in
  the target (each document's ``no_account`` says since when, and whether it is held for it); ``waiting_for`` ->
  the documents waiting for any look-up. Each in pages of a bounded size (:mod:`streams.flows.orders.index`).
- ``parties``: per party key, its mapped origin and target values (under their systems' names), their
  commit times, and the origin mirror of the balance.
- ``balances``: per party key, the balance: the totals of its target's rows; ``members``: each row's
  contribution (:mod:`streams.flows.sums`).
- ``links``: the records the mappings look up (:class:`~streams.flows.lookups.LookupTables`).
- ``parked``: records waiting for a look-up, under its waiting key.
- ``tx``: the transaction join (:mod:`streams.flows.orders.txjoin`).
- ``views``: per document number, a digest of the reconciled record last published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from streams.flows.commands import Cause
from streams.flows.engine.api import Context, JsonValue, Store
from streams.flows.engine.values import from_store, to_store
from streams.flows.lookups import LookupTables
from streams.flows.orders.index import DocumentIndex

STORES = ("tx", "documents", "lines", "index", "parties", "balances", "members", "links", "parked", "views")
LINKS = "links"


#: The fields of a Cause, in their order: all plain values, so a cause's state is made from them directly
#: (``dataclasses.asdict`` deep-copies each one, a tenth of a millisecond per cause).
_CAUSE_FIELDS = tuple(f.name for f in dataclasses.fields(Cause))


def cause_state(cause: Cause) -> JsonValue:
    return dict(to_store({name: getattr(cause, name) for name in _CAUSE_FIELDS}))


def cause_of(state: Mapping[str, Any] | None) -> Cause | None:
    return None if state is None else Cause(**from_store(dict(state)))


class State:
    """Typed access to the stores of one task; ``lookup`` answers the mappings' look-ups."""

    def __init__(self, ctx: Context, tables: LookupTables) -> None:
        self.stores = ctx.stores
        self.count = ctx.count
        self.lookup = tables.context(ctx.stores[LINKS])
        self.index = DocumentIndex(ctx.stores["index"], ctx.stores["documents"])

    def store(self, name: str) -> Store:
        return self.stores[name]

    def get(self, store: str, key: str) -> JsonValue:
        return dict(self.stores[store].get(key) or {})

    def put(self, store: str, key: str, value: JsonValue | None) -> None:
        self.stores[store].put(key, value)

    def side(self, store: str, key: str, system: str) -> dict[str, Any] | None:
        """What ``system`` holds of entry ``key`` of ``store`` (its row or mapped values), or None."""
        found: dict[str, Any] | None = from_store(self.get(store, key).get(system))
        return found

    def indexed(self, key: str) -> list[str]:
        """The documents under ``key`` of the index (``party=<key>`` or ``wait=<look-up>``), in the order added."""
        return self.index.documents(key)

    def add_indexed(self, key: str, number: str, document: dict[str, Any]) -> None:
        """List document ``number`` under ``key``; ``document``, its entry, says so (the caller writes it)."""
        self.index.add(key, number, document)

    def take_indexed(self, key: str) -> list[str]:
        return self.index.take(key)

    @staticmethod
    def load(value: Any) -> Any:
        return from_store(value)

    @staticmethod
    def dump(value: Any) -> Any:
        return to_store(value)
