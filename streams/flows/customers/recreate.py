"""Delete, then create again under the same key: the entity is born again.

A source whose delete ends the entity (its ``on_delete`` sets the section's ``active`` field to false) and
which binds no ``active`` of its own says, by the existence of its row, that the entity lives: the reference
CRM's customers have no active column, a deleted customer is ended (the ERP account deactivated). A row that
source *creates* under a key it deleted before therefore asserts ``active: true`` as of its commit, so the
entity lives again (``latest_commit_wins``, or the source's system owning ``active``) and the counterpart that
was deactivated gets its ``active`` back through an ``update`` (the section's ``on_recreate: reactivate``). A
row renumbered onto such a key (an update that gave it the key, ``renumbered_from``) is that key's new row too.
A snapshot read asserts nothing: it re-reads a row, it does not make one.
"""

from __future__ import annotations

import dataclasses

from streams.codecs import Op
from streams.flows.customers.config import EntityConfig
from streams.mapping import MappedChange


def reborn(change: MappedChange, op: Op, config: EntityConfig) -> MappedChange:
    """``change`` with ``active: true`` asserted when it is a new row of a source whose delete ends the entity (or a
    row renumbered onto its key)."""
    active = config.active
    on_delete = change.source.on_delete or {}
    new_row = op is Op.CREATE or change.renumbered_from is not None
    if (active is None or not new_row or change.deleted or active in change.source.bindings
            or on_delete.get(active) is not False):
        return change
    return dataclasses.replace(change, values={**change.values, active: True},
                               asserted=(*change.asserted, active))
