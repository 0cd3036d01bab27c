"""Rows whose change the flow dead-lettered: their next change claims every field.

An update claims only the fields its before-image shows it changed (:class:`~streams.mapping.MappedChange`). When the
flow dead-letters a change of a row (its mapping refused a value, it is no Debezium event, its decision failed), what
that change set never reaches the record, and the row's next update does not claim it either: its before-image
already holds it. The decision would then command the system back to the record's older values, the field's owner
included (an ERP credit limit of 1234.5678, refused for its decimals, set back to 0.00 by the account's next edit
once the mapping rounded). So the flow remembers the row here, by its topic and Debezium key (a key decodes even when
the value does not), and the row's next change that the flow uses claims every field it binds, as a create or a
snapshot read does (only the values the system reported before are left out: :func:`~streams.flows.customers.sync.
fold`); then the row is forgotten.

The ``missed`` store holds ``row:<topic>:<key as JSON>`` -> ``{"at": <position of the dead-lettered change>}`` and
``count`` -> ``{"n": <rows>}`` while there are some, so a flow with no row marked looks up only ``count`` per change.
Like every store it is written to its changelog in the batch's transaction: a mark is set once, with the dead letter,
and survives restarts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from streams.flows.engine.api import Store
from streams.flows.engine.values import to_store

MISSED = "missed"
_COUNT = "count"
#: What ``Context.count`` counts: rows marked, and changes that claimed every field for one.
MARKED_COUNT = "rows_missed"
WHOLE_COUNT = "claimed_whole"


def row_mark(topic: str, key: Mapping[str, Any]) -> str:
    """The store key of a row: its topic and its Debezium key's columns."""
    return f"row:{topic}:{json.dumps(to_store(dict(key)), sort_keys=True)}"


class Missed:
    """The ``missed`` store of one task, as the flow uses it."""

    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        self.store = store

    def any(self) -> bool:
        """Whether some row is marked (one look-up, of ``count``)."""
        return self.store.get(_COUNT) is not None

    def mark(self, topic: str, key: Mapping[str, Any], at: str) -> bool:
        """Remember that the change at ``at`` of the row ``key`` of ``topic`` was dead-lettered; False when the row
        was marked already (by an earlier change of it, which stays the one named)."""
        name = row_mark(topic, key)
        store = self.store
        if store.get(name) is not None:
            return False
        count = store.get(_COUNT)
        store.put(_COUNT, {"n": (int(count["n"]) if count else 0) + 1})
        store.put(name, {"at": at})
        return True

    def take(self, topic: str, key: Mapping[str, Any]) -> str | None:
        """The position of the dead-lettered change of the row, the mark cleared; None when the row is not marked."""
        store = self.store
        count = store.get(_COUNT)
        if count is None:
            return None
        name = row_mark(topic, key)
        marked = store.get(name)
        if marked is None:
            return None
        store.put(name, None)
        left = int(count["n"]) - 1
        store.put(_COUNT, {"n": left} if left > 0 else None)
        return str(marked["at"])
