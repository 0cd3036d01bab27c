"""Ids a row copied from another key: a primary key changed in a system whose rows carry other systems' ids.

Debezium does not send an UPDATE that changes a row's primary key as an update: the PostgreSQL and the MariaDB
connector send a delete of the old key and a create of the new one, in the same source transaction, the create
with the ``__debezium.oldkey`` header (the delete with ``__debezium.newkey``). The new row is a copy of the old,
so it still holds the ids the flow wrote back into it (``observes``, the reference CRM's ``erp_account_id``):
those of the old key's records in the other systems. When the entity's key changed with the row's, taking them
would link the new key to the old key's record (ended with it): it would never be created there, and nothing it
does would reach that system. An update that changes the entity's key is handled where it is mapped
(``MappedChange.renumbered_from``); this is the delete-and-create form.

A create does not take an id it reports (it is observed as none, so the new key is created in that system and
its own id linked back into the row) when the entity's link does not already have that id and either an entity
whose row of the same system ended in the group being folded (the source transaction) reported it, or the create
carries the old key header. The order of the group's changes does not matter: a key changed by hand inserts the
new row before it deletes the old one (systems/README.md advises that order where foreign keys must not cascade),
so an id a create (or a later update of its row) took is given up again when a row that ends later in the group
reported it: the group is decided only once it is folded whole. The entity whose row ended is the entity of the
create itself when only the row's primary key changed, not the entity's key (a customer's surrogate id
renumbered): its ids are its own and are kept. The ids a row reported when it ended are taken from its
before-image, the link and what the flow last saw of the row, so a delete that carries only the key (PostgreSQL's
default replica identity) still counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Incoming
from streams.flows.engine.objects import ObjectView

log = logging.getLogger(__name__)

#: The header Debezium puts on the create of a primary key change: the row's old key.
OLD_KEY_HEADER = "__debezium.oldkey"
#: Counted for each id a create copied from another key and did not take.
COPIED_COUNT = "copied_ids_not_linked"


class CopiedIds:
    """The ids that rows ended in the group being folded reported, those its creates took, and the record being
    folded; one per flow. :meth:`group` readies it for a group, :meth:`start` for each of its records,
    :meth:`folded` keeps what a record that was folded ended or took (a record that fails leaves nothing behind)."""

    def __init__(self) -> None:
        #: (system, id field, repr of the id) -> the entity whose row that ended reported it.
        self._ended: dict[tuple[str, str, str], str] = {}
        self._noted: list[tuple[tuple[str, str, str], str]] = []
        #: (system, id field, repr of the id) -> the entity whose new row took it, and the id.
        self._took: dict[tuple[str, str, str], tuple[str, Any]] = {}
        self._taking: list[tuple[tuple[str, str, str], tuple[str, Any]]] = []
        self._entities: ObjectView[CustomerState] | None = None
        self._count: Callable[[str, int], None] | None = None
        self._record: Incoming | None = None

    def group(self) -> None:
        """A group (a source transaction, or one change) is about to be folded: the last one's ends are forgotten."""
        self._ended.clear()
        self._noted.clear()
        self._took.clear()
        self._taking.clear()

    def start(self, record: Incoming, entities: ObjectView[CustomerState], count: Callable[[str, int], None]) -> None:
        """``record`` is about to be folded; ``entities`` holds the entities' states, ``count`` counts."""
        self._noted.clear()
        self._taking.clear()
        self._record, self._entities, self._count = record, entities, count

    def folded(self) -> None:
        """The record was folded: the ids of the rows it ended count for the group's later changes, and an entity
        whose new row took one of them earlier in the group gives it up (:meth:`_given_up`)."""
        for ident, ended in self._noted:
            took = self._took.pop(ident, None)
            if took is not None and took[0] != ended:
                self._given_up(ident, *took, ended=ended)
        self._ended.update(self._noted)
        self._took.update(self._taking)
        self._noted.clear()
        self._taking.clear()

    def ended(self, system: str, key: str, before: Mapping[str, Any] | None, columns: Mapping[str, str]) -> None:
        """The row of ``system`` that was entity ``key``'s ends; ``columns``: the fields it reports, by column."""
        assert self._entities is not None, "start() readies it for a record"
        state = self._entities.get(key)
        mirror = state.mirrors.get(system)
        for name, column in columns.items():
            seen = {before.get(column) if before else None, state.xref.get(name),
                    mirror.reported.get(name) if mirror else None}
            self._noted += [((system, name, repr(value)), key) for value in seen if value is not None]

    def taken(self, system: str, key: str, ids: Mapping[str, Any]) -> dict[str, Any]:
        """The ids a create (or an update) of ``system``'s row for entity ``key`` reports, those it copied from
        another key as none (see the module's docstring)."""
        assert self._entities is not None and self._record is not None, "start() readies it for a record"
        moved = any(name == OLD_KEY_HEADER for name, _ in self._record.headers)
        state = self._entities.get(key)
        taken = dict(ids)
        for name, value in ids.items():
            if value is None or state.xref.get(name) == value:
                continue
            ident = (system, name, repr(value))
            owner = self._ended.get(ident)
            if owner is None and not moved:
                self._taking.append((ident, (key, value)))  # given up if a row that ends later reported it
                continue
            if owner == key:
                continue
            taken[name] = None
            self._copied(system, key, name, value, f"{owner}, whose row ended in the same transaction" if owner
                         else "its old key")
        return taken

    def _given_up(self, ident: tuple[str, str, str], key: str, value: Any, *, ended: str) -> None:
        """Entity ``key``'s row took id ``value`` earlier in the group, and entity ``ended``'s row, which ends now,
        reported it: the row copied it (a key changed by inserting the new row first), so it is observed as none."""
        assert self._entities is not None
        system, name, _ = ident
        state = self._entities.get(key)
        mirror = state.mirrors.get(system)
        if mirror is None or mirror.reported.get(name) != mirror.view(name, value):
            return  # a later change of the row reported another id
        mirror.observe(name, None)
        self._entities.put(key, state)
        self._copied(system, key, name, value, f"{ended}, whose row ended later in the same transaction")

    def _copied(self, system: str, key: str, name: str, value: Any, source: str) -> None:
        assert self._record is not None
        if self._count is not None:
            self._count(COPIED_COUNT, 1)
        log.info("%s: %s's new row of %s holds %s %r, copied from %s (a primary key change): not taken for its "
                 "link; it is created anew where that id was, and its own id linked back into the row",
                 self._record.position, system, key, name, value, source)
