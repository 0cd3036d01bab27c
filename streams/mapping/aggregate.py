"""Sums over the rows of a group, e.g. available quantity per SKU over all warehouses.

The state is each member row's contribution (keyed by the row's key), so an update replaces the row's
old contribution and a delete removes it: the total never double-counts a replayed change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.mapping.engine import MappedChange, coerce
from streams.mapping.exceptions import MappingError

Members = Mapping[tuple[Any, ...], Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Aggregate:
    """The contributions of a group's member rows, and the totals of its summed fields."""

    members: Members
    totals: Mapping[str, Any]


def summed_fields(change: MappedChange) -> tuple[str, ...]:
    return tuple(n for n, b in change.source.bindings.items() if b.aggregate == "sum")


def fold(previous: Members | None, change: MappedChange) -> Aggregate:
    """The group after ``change``: its member's contribution replaced, added or (on delete) removed."""
    fields = summed_fields(change)
    if not fields:
        raise MappingError(f"{change.source.name} in {change.mapping.path.name} sums no field; "
                           "aggregate only sources with `group_by` and `sum:` bindings")
    members = dict(previous or {})
    if change.deleted:
        members.pop(change.member_key, None)
    else:
        members[change.member_key] = MappingProxyType({f: change.values[f] for f in fields})
    totals = {
        f: coerce(sum((m[f] for m in members.values() if m[f] is not None), Decimal(0)),
                  change.source.bindings[f].avro_type, {}, f"{change.mapping.path.name} {f}")
        for f in fields
    }
    return Aggregate(members=MappingProxyType(members), totals=MappingProxyType(totals))
