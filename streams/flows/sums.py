"""Group sums in a flow's state: the totals in the group's entry, each member row's contribution in an entry of
its own (store ``members`` of the flow), so a change reads and writes its group and one member, however many
rows the group has. An account with 100,000 payments once kept them all in its one entry: every payment read
and wrote all of them, and the entry outgrew a Kafka record.

Entries written before then (``members`` inside the group's entry) are split up the first time their group
changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from streams.flows.engine.api import JsonValue, Store
from streams.flows.engine.values import from_store, to_store
from streams.mapping import MappedChange, fold, totals_of

#: The store of each member row's contribution; a flow that sums lists it among its stores.
MEMBERS = "members"


def member_key(group: str, member: tuple[Any, ...]) -> str:
    """The ``members`` key of a row of ``group``: both parts, unambiguous whatever text the group holds."""
    return json.dumps([group, *to_store(list(member))], separators=(",", ":"))


def add(members: Store, group: str, entry: dict[str, Any], change: MappedChange) -> Mapping[str, Any]:
    """Fold ``change`` into the group's ``entry`` (its ``totals``, updated in place) and its member's entry in
    ``members``; returns the totals. The caller writes ``entry``."""
    if "members" in entry:
        _split(members, group, entry, change)
    key = member_key(group, change.member_key)
    step = fold(from_store(entry.get("totals")), from_store(members.get(key)), change)
    members.put(key, None if step.contribution is None else to_store(dict(step.contribution)))
    entry["totals"] = to_store(dict(step.totals))
    return step.totals


def _split(members: Store, group: str, entry: dict[str, Any], change: MappedChange) -> None:
    """An entry kept whole (``members``: JSON text of the row key -> contribution) split into member entries."""
    kept: dict[str, JsonValue] = entry.pop("members") or {}
    for text, contribution in kept.items():
        members.put(member_key(group, tuple(json.loads(text))), contribution)
    entry["totals"] = to_store(dict(totals_of((from_store(c) for c in kept.values()), change)))
