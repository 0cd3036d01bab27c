"""Sums over the rows of a group, e.g. available quantity per SKU over all warehouses.

A group's state is its totals and each member row's contribution (keyed by the row's key), so an update
replaces the row's old contribution and a delete removes it: the total never double-counts a replayed change.
A change moves the totals by its member's old and new contribution alone, so a group of many rows (an account
with years of payments) costs the same per change as a group of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.mapping.engine import MappedChange, coerce
from streams.mapping.exceptions import MappingError

Contribution = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Step:
    """A member row's change to its group: what the row contributes now (None once deleted) and the totals."""

    contribution: Contribution | None
    totals: Mapping[str, Any]


def summed_fields(change: MappedChange) -> tuple[str, ...]:
    fields = tuple(n for n, b in change.source.bindings.items() if b.aggregate == "sum")
    if not fields:
        raise MappingError(f"{change.source.name} in {change.mapping.path.name} sums no field; "
                           "aggregate only sources with `group_by` and `sum:` bindings")
    return fields


def fold(totals: Mapping[str, Any] | None, previous: Contribution | None, change: MappedChange) -> Step:
    """The group after ``change``: its member's ``previous`` contribution (None: a new member) taken out of the
    ``totals`` (None: an empty group) and its new one, unless deleted, put in."""
    fields = summed_fields(change)
    contribution = None if change.deleted else MappingProxyType({f: change.values[f] for f in fields})
    return Step(contribution=contribution, totals=_moved(totals, [previous], [contribution], fields, change))


def totals_of(contributions: Iterable[Contribution], change: MappedChange) -> Mapping[str, Any]:
    """The totals of a group whose members contribute ``contributions`` (for a group kept whole before)."""
    return _moved(None, [], list(contributions), summed_fields(change), change)


def _moved(totals: Mapping[str, Any] | None, out: Iterable[Contribution | None],
           into: Iterable[Contribution | None], fields: tuple[str, ...], change: MappedChange) -> Mapping[str, Any]:
    sums = {f: Decimal((totals or {}).get(f) or 0) for f in fields}
    for sign, contributions in ((-1, out), (1, into)):
        for contribution in contributions:
            for f in fields:
                value = None if contribution is None else contribution.get(f)
                if value is not None:
                    sums[f] += sign * Decimal(value)
    return MappingProxyType({
        f: coerce(sums[f], change.source.bindings[f].avro_type, {}, f"{change.mapping.path.name} {f}")
        for f in fields})
