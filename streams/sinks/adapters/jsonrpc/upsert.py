"""Once-only without idempotency keys: what to do with an external id's search result. Pure functions.

A create of a route with ``external_id`` is "search by external id, then create or update": the target keeps
the id (a party's code), so a retry after a lost answer (the sink killed after the create, before its offset
commit) finds the record it made instead of making a second.

The race with a concurrent writer: search-then-create is not atomic. Two sinks (or a person) creating the
same external id at the same moment both find nothing and both create. Only the target can settle that: a
unique constraint on the external id (Tryton: ``party.party`` has ``code_uniq``, UNIQUE(code), over all
parties, active or not) makes the second create fail, and that failure (``duplicate_error``) is read as "it
exists now": search again and update. Without such a constraint in the target, two records can be made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streams.sinks.adapters.mapping import MISSING, get_path


@dataclass(frozen=True, kw_only=True)
class Decision:
    """``create``; ``update`` the one record ``record_id``; or ``ambiguous`` (several records hold the id)."""

    action: Literal["create", "update", "ambiguous"]
    record_id: Any = None
    found: tuple[Any, ...] = ()


def found_ids(result: Any, path: str) -> tuple[Any, ...]:
    """The record ids a search answered, at ``path`` of ``{"result": result}``: a list of ids, one id, or
    a list of records each with an ``id``."""
    value = get_path({"result": result}, path)
    if value is MISSING or value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(item.get("id") if isinstance(item, dict) else item for item in items)


def decide(result: Any, path: str) -> Decision:
    ids = found_ids(result, path)
    if not ids:
        return Decision(action="create")
    if len(ids) == 1:
        return Decision(action="update", record_id=ids[0], found=ids)
    return Decision(action="ambiguous", found=ids)
