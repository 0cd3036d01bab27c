"""Several rows of one source that fill the same fields of one entity at once.

A source whose key comes through a look-up (an address found through its customer's id, Tryton's contact
mechanism through its party) fills single fields of the record, usually under a ``when:`` and with an
``on_delete: {set: {field: null}}``. Nothing in the source system makes one row per entity match: a shop keeps
several billing addresses and switches the default, a party keeps several e-mails. The field shows the matching
row changed last (a row that starts matching, or whose values change); when that row stops matching or is
deleted, the field falls back to the values of the remaining matching row changed last, as a change of that
source's system at this change's commit (the system shows that row's values now); only when no matching row is
left does ``on_delete`` apply. A row that stops matching while it is not the one shown changes nothing.

Without this, a shop switching the default address in one transaction (the new default first) ended with the
field null, the old default's end applied last; a second address added and deleted again left the field null
though the first one still matched.

Per entity, per such source, the rows matching now are kept with the values they map (:data:`MatchingRows`).
States written before they were kept have none: a row first seen later is recorded from then on; the end of a row
while none is recorded applies ``on_delete`` as before (it may be the row shown), and the end of one not recorded
while others are changes nothing (the rows recorded changed after it, so one of them is shown).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from streams.flows.customers.config import keyed_by_lookup
from streams.mapping import MappedChange
from streams.mapping.spec import SourceMapping

#: Per source name, the rows (``keying.row_key``) that match the entity now, each with the values it maps (every
#: field the source binds but the key's), in the order they last changed: the last one is the one shown. Lists
#: and values are replaced, never changed in place (a state's copy shares them).
MatchingRows = dict[str, list[tuple[str, dict[str, Any]]]]


def fills_from_matching_rows(source: SourceMapping, key: str) -> bool:
    """Whether the rows of ``source`` that match an entity are kept (:data:`MatchingRows`): a table source that
    finds the entity of key field ``key`` through a look-up (several of its rows can name one entity) and whose
    delete sets fields rather than deleting the record. A source keyed by the row's own columns is one row per
    entity (``CustomerState.claim``); a sum over rows (``group_by``) has rows of its own kind."""
    return (source.table is not None and not source.group_by and key in source.bindings
            and not source.deletes_target and keyed_by_lookup(source, (key,)))


def shown_change(matching: MatchingRows, change: MappedChange, row: str) -> MappedChange | None:
    """What ``change`` of row ``row`` of a source whose matching rows are kept makes the entity show, the rows kept
    in ``matching`` updated: ``change`` itself (the row shown changes, or the last matching row ends: its
    ``on_delete``), the row made whole (another row was shown: every field it maps is claimed), the values of the
    remaining matching row changed last (the row shown ends: a change, not deleted, asserting every field it maps,
    its base the ended row's values), or None: nothing to fold (a row not shown ends, or changes nothing the source
    maps)."""
    name = change.source.name
    live = matching.get(name, [])
    at = next((i for i, (kept, _) in enumerate(live) if kept == row), None)
    last = len(live) - 1
    if change.deleted:
        if at is None:
            return change if not live else None
        left = live[:at] + live[at + 1:]
        if left:
            matching[name] = left
        else:
            del matching[name]
        if at != last:
            return None  # not the row shown
        if not left:
            return change  # no matching row is left: its on_delete
        values = left[-1][1]
        key = {n: v for n, v in change.values.items() if n in change.mapping.key}
        return MappedChange(mapping=change.mapping, source=change.source, system=change.system, key=change.key,
                            deleted=False, values={**key, **values}, asserted=tuple(values),
                            base=dict(live[at][1]), commit_time=change.commit_time)
    mapped = {n: v for n, v in change.values.items() if n not in change.mapping.key}
    values = {**live[at][1], **mapped} if at is not None else mapped
    if at is not None and values == live[at][1]:
        return change if at == last else None  # nothing the source maps changed: the order stands
    matching[name] = [*(kept for kept in live if kept[0] != row), (row, values)]
    if at == last or not live:
        return change
    return dataclasses.replace(change, values={**change.values, **values}, asserted=tuple(values),
                               base=dict(live[-1][1]))
