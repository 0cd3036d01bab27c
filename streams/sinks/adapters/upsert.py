"""Once-only without idempotency keys: create as "search by external id, then create or update", for every
adapter whose route declares an ``external_id`` (``http``, ``jsonrpc``; in ``jsonrpc`` also a route's ``then:``
calls, whose params may read ``$record``). The adapter makes the calls (its :class:`UpsertCalls`, holding
whatever they render from); :func:`upsert` decides which, in what order, and what each answer means.

The target keeps the id (a party's code, a CRM customer number), so a retry after a lost answer (the sink
killed after the create, before its offset commit) finds the record it made instead of making a second.

The race with a concurrent writer: search-then-create is not atomic. Two sinks (or a person) creating the
same external id at the same moment both find nothing and both create. Only the target can settle that: a
unique constraint on the external id (Tryton: ``party.party`` has ``code_uniq``, UNIQUE(code), over all
parties, active or not; the reference ERP: ``accounts.crm_customer_number`` UNIQUE, answered 409) makes the
second create fail, and that failure (the route's duplicate rule) is read as "it exists now": search again and
update. Without such a constraint in the target, two records can be made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.outcomes import Failed

log = logging.getLogger("isthmus.sink")

#: In a path to the found ids, ``*`` stands for every item of a list (``items.*.account_id``).
EACH = "*"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """``create``; ``update`` the one record ``record_id``; ``ambiguous`` (several records hold the id); or
    ``misread``: the path to the found ids does not fit the answer (``reason`` says where)."""

    action: Literal["create", "update", "ambiguous", "misread"]
    record_id: Any = None
    found: tuple[Any, ...] = ()
    reason: str = ""


class FoundIdPathError(ValueError):
    """The path to the found ids walks into a list by a name: the answer holds records the path cannot reach, so
    "nothing found" would be a guess (and a create a duplicate)."""


def _values_at(value: Any, parts: list[str]) -> list[Any]:
    if not parts:
        return [value]
    if parts[0] == EACH:
        items = value if isinstance(value, list) else []
        return [found for item in items for found in _values_at(item, parts[1:])]
    head: list[str] = []
    while parts and parts[0] != EACH:
        head.append(parts.pop(0))
    found = get_path(value, ".".join(head))
    if found is MISSING:
        _refuse_a_list_by_name(value, head)
    if found is MISSING or found is None:
        return []
    return _values_at(found, parts)


def _refuse_a_list_by_name(value: Any, parts: list[str]) -> None:
    current = value
    for at, part in enumerate(parts):
        if isinstance(current, list) and not part.isdigit():
            where = ".".join(parts[:at]) or "the answer"
            fixed = ".".join([*parts[:at], EACH, *parts[at:]])
            raise FoundIdPathError(f"{where} is a list of {len(current)}, which the path {'.'.join(parts)} reads by "
                                   f"the name {part!r}; write {fixed} to take each item's {part}")
        if not isinstance(current, dict) or part not in current:
            return
        current = current[part]


def found_ids(answer: Any, path: str) -> tuple[Any, ...]:
    """The record ids a search answered, at dotted ``path`` of its answer (``*`` for every item of a list): a
    list of ids, one id, or a list of records each with an ``id``."""
    parts = path.split(".")
    values = _values_at(answer, parts)
    if EACH not in parts and len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    return tuple(item.get("id") if isinstance(item, dict) else item for item in values)


def decide(answer: Any, path: str) -> Decision:
    try:
        ids = found_ids(answer, path)
    except FoundIdPathError as exc:
        return Decision(action="misread", reason=str(exc))
    if not ids:
        return Decision(action="create")
    if len(ids) == 1:
        return Decision(action="update", record_id=ids[0], found=ids)
    return Decision(action="ambiguous", found=ids)


@dataclass(frozen=True, kw_only=True)
class Searched:
    """A search's answer and what it means."""

    decision: Decision
    answer: Any


@dataclass(frozen=True, kw_only=True)
class Created:
    """A create's answer and the new record's id in it (None when the route does not say where it is)."""

    answer: Any
    record_id: Any = None


@dataclass(frozen=True, kw_only=True)
class Upserted:
    """What an upsert did: ``action`` (``created``, ``found``, ``found, updated``, ``found after a concurrent
    create`` [``, updated``]), the record, the answer of its create or update call (None when the record was
    found and left as it is), and the last search's answer."""

    action: str
    record_id: Any
    answer: Any = None
    searched: Any = None


class UpsertCalls(Protocol):
    """The calls of one command's upsert, as one adapter makes them; each never raises for the target's failure."""

    async def search(self) -> Searched | Failed:
        """Search the records that hold the command's external id."""
        ...

    async def create(self) -> Created | Failed:
        """The route's own call."""
        ...

    async def update(self, record_id: Any) -> Any:
        """Write the command into ``record_id``; its answer, or a Failed."""
        ...

    def is_duplicate(self, failed: Failed) -> bool:
        """Whether a failed create is the target's unique violation on the external id."""
        ...


async def upsert(calls: UpsertCalls, *, system: str, field: str, value: Any, call: str, search_call: str,
                 updates: bool) -> Upserted | Failed:
    """Apply one command of a route with an external id: ``field`` is its name in the payload and ``value`` the
    payload's value there; ``call`` and ``search_call`` name the route's call and the search for reasons;
    ``updates``: the route declares an update (else a found record is left as it is)."""
    if value is MISSING or value is None or value == "":
        return Failed(kind="permanent", error_type="ExternalIdMissing",
                      reason=f"the payload has no {field}, the external id that makes {call} safe to retry; send it "
                             "in the payload")
    searched = await _search(calls, system=system, field=field, value=value, search_call=search_call)
    if isinstance(searched, Failed):
        return searched
    if searched.decision.action == "update":
        return await _update(calls, searched, "found", updates)
    created = await calls.create()
    if not isinstance(created, Failed):
        return Upserted(action="created", record_id=created.record_id, answer=created.answer)
    if not calls.is_duplicate(created):
        return created
    # Another writer created the same external id between our search and our create.
    log.info("sink %s: %s %r was created by another writer at the same time; updating it", system.lower(), field,
             value)
    searched = await _search(calls, system=system, field=field, value=value, search_call=search_call)
    if isinstance(searched, Failed):
        return searched
    if searched.decision.action != "update":
        # the create's own failure; if it was about this id after all, the search cannot see what it made
        return replace(created, reason=f"{created.reason} (and {search_call} finds no record of {field} {value!r}: if "
                                       "the target refused it as existing, check the search's path and found_id in "
                                       "the target file)")
    return await _update(calls, searched, "found after a concurrent create", updates)


async def _search(calls: UpsertCalls, *, system: str, field: str, value: Any,
                  search_call: str) -> Searched | Failed:
    searched = await calls.search()
    if isinstance(searched, Failed) or searched.decision.action not in ("ambiguous", "misread"):
        return searched
    if searched.decision.action == "misread":
        return Failed(kind="permanent", error_type="FoundIdMisread", answer=searched.answer,
                      reason=f"the answer of {search_call} does not fit its found_id: {searched.decision.reason}; fix "
                             "found_id in the route's external_id search (the target file), then replay the dead "
                             "letter")
    found = searched.decision.found
    return Failed(kind="permanent", error_type="ExternalIdAmbiguous", answer=searched.answer,
                  reason=f"{len(found)} records of {system} hold {field} {value!r} ({search_call} found "
                         f"{list(found)}); the external id must be unique: merge them in the target, then replay "
                         "the dead letter")


async def _update(calls: UpsertCalls, searched: Searched, how: str, updates: bool) -> Upserted | Failed:
    record_id = searched.decision.record_id
    if not updates:
        return Upserted(action=how, record_id=record_id, searched=searched.answer)
    answer = await calls.update(record_id)
    if isinstance(answer, Failed):
        return answer
    return Upserted(action=f"{how}, updated", record_id=record_id, answer=answer, searched=searched.answer)
