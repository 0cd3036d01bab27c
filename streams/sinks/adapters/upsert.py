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

A search that shows a new record late (an eventually consistent index) would make the same retry create again:
the HTTP adapter waits out the search's ``lag_s`` after a create that may have made its record before it
searches again (``streams.sinks.adapters.http_upsert``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, Protocol

from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.outcomes import Failed, top_keys

log = logging.getLogger("isthmus.sink")

#: In a path to the found ids, ``*`` stands for every item of a list (``items.*.account_id``).
EACH = "*"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """``create``; ``update`` the one record ``record_id``; ``ambiguous`` (several records hold the id);
    ``misread``: the path to the found ids does not fit the answer (``reason`` says where); or ``unchecked``: the
    search answered records without the field that holds the external id, so which of them hold it exactly is
    unknown (``reason`` says what they carry). ``left_aside``: the records the search answered that hold another
    value (a search filter that matches loosely, e.g. by prefix)."""

    action: Literal["create", "update", "ambiguous", "misread", "unchecked"]
    record_id: Any = None
    found: tuple[Any, ...] = ()
    reason: str = ""
    left_aside: int = 0


class FoundIdPathError(ValueError):
    """The path to the found ids walks into a list by a name: the answer holds records the path cannot reach, so
    "nothing found" would be a guess (and a create a duplicate)."""


class FoundRecord(NamedTuple):
    """One record a search answered: its id, and the item of the answer's list it was read from (None when the
    answer lists bare ids, or is the record itself)."""

    record_id: Any
    record: Mapping[str, Any] | None


def _values_at(value: Any, parts: list[str], item: Any = None) -> list[tuple[Any, Any]]:
    if not parts:
        return [(value, item)]
    if parts[0] == EACH:
        items = value if isinstance(value, list) else []
        return [found for each in items for found in _values_at(each, parts[1:], each)]
    head: list[str] = []
    while parts and parts[0] != EACH:
        head.append(parts.pop(0))
    found = get_path(value, ".".join(head))
    if found is MISSING:
        _refuse_a_list_by_name(value, head)
    if found is MISSING or found is None:
        return []
    return _values_at(found, parts, item)


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


def found_records(answer: Any, path: str) -> tuple[FoundRecord, ...]:
    """The records a search answered, at dotted ``path`` of its answer (``*`` for every item of a list): a list
    of ids, one id, or a list of records each with an ``id``."""
    parts = path.split(".")
    values = _values_at(answer, parts)
    if EACH not in parts and len(values) == 1 and isinstance(values[0][0], list):
        values = [(item, item) for item in values[0][0]]
    return tuple(FoundRecord(item.get("id") if isinstance(item, dict) else item,
                             record if isinstance(record, Mapping) else None) for item, record in values)


def found_ids(answer: Any, path: str) -> tuple[Any, ...]:
    """The record ids a search answered (see :func:`found_records`)."""
    return tuple(found.record_id for found in found_records(answer, path))


def same_value(held: Any, value: Any) -> bool:
    """Whether a record's external id is the command's exactly (a number and its digits count as the same)."""
    if held == value:
        return True
    scalars = (str, int, float)
    return (isinstance(held, scalars) and isinstance(value, scalars) and not isinstance(held, bool)
            and not isinstance(value, bool) and str(held) == str(value))


def decide_found(found: Sequence[FoundRecord], *, match: str | None = None, value: Any = None) -> Decision:
    """What the found records mean. With ``match`` (the path, in a found record, of the external id the target
    keeps) only the records holding ``value`` exactly count; a found record without ``match`` is not trusted."""
    left_aside = 0
    if match is not None:
        blind = [f.record for f in found if f.record is not None and get_path(f.record, match) is MISSING]
        if blind:
            keys = sorted({str(k) for record in blind for k in record})
            return Decision(action="unchecked", found=tuple(f.record_id for f in found),
                            reason=f"{len(blind)} of the {len(found)} records it answered have no {match} (they "
                                   f"carry {', '.join(keys) or 'nothing'})")
        exact = [f for f in found if f.record is None or same_value(get_path(f.record, match), value)]
        left_aside, found = len(found) - len(exact), exact
    ids = tuple(f.record_id for f in found)
    if not ids:
        return Decision(action="create", left_aside=left_aside)
    if len(ids) == 1:
        return Decision(action="update", record_id=ids[0], found=ids, left_aside=left_aside)
    return Decision(action="ambiguous", found=ids, left_aside=left_aside)


def decide(answer: Any, path: str, *, match: str | None = None, value: Any = None) -> Decision:
    try:
        found = found_records(answer, path)
    except FoundIdPathError as exc:
        return Decision(action="misread", reason=str(exc))
    return decide_found(found, match=match, value=value)


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


def created_without_id(*, system: str, status: int | None, call: str, created_id: str, answer: Any,
                       where: str) -> Failed:
    """A create answered success without the new record's id where the route's ``created_id`` says it is: an error
    the target reports under a 2xx (``{"ok": false, "error": ...}``), or a wrong path. Whether it made the record is
    unknown, so it is no success (taken as one, a create the target never applied was counted applied and the
    record never made, with nothing pending to say so): dead-lettered, so that a replay, whose search finds the
    record if the create made it, applies it once the cause is fixed."""
    said = f" {status}" if status is not None else ""
    return Failed(kind="permanent", error_type="CreatedIdMissing", status=status, answer=answer, call=call,
                  reason=f"{system} answered{said} to {call} without the new record's id at {created_id} (created_id "
                         f"of {where}); its answer's top-level keys: {top_keys(answer)}. Whether it made the record is "
                         "unknown, so the create is not taken as applied. If that answer is an error the target "
                         "reports under a success status, declare it in the route's answers.error (with transient: "
                         "for one that passes); if the new id is elsewhere in the answer, fix created_id; then replay "
                         "the dead letter (isthmus topics dlq replay): its search finds the record if the create made "
                         "it")


#: What an upsert that found its record and left it as it is says it did (its answer's ``upsert``): the
#: command's answer is then the search's, not the create's or update's the route's ``ids`` describe.
LEFT_AS_IS = frozenset({"found", "found after a concurrent create"})


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
                 updates: bool, creates: bool = True) -> Upserted | Failed:
    """Apply one command of a route with an external id: ``field`` is its name in the payload and ``value`` the
    payload's value there; ``call`` and ``search_call`` name the route's call and the search for reasons;
    ``updates``: the route declares an update (else a found record is left as it is); ``creates``: False for a
    command that must not make its record (a deactivate, a cancel): a search that finds none fails, saying the
    record is not there (``not_found``), which the route's ``gone`` rule takes for gone."""
    if value is MISSING or value is None or value == "":
        return Failed(kind="permanent", error_type="ExternalIdMissing",
                      reason=f"the payload has no {field}, the external id that makes {call} safe to retry; send it "
                             "in the payload")
    searched = await _search(calls, system=system, field=field, value=value, search_call=search_call)
    if isinstance(searched, Failed):
        return searched
    if searched.decision.action == "update":
        return await _update(calls, searched, "found", updates)
    if not creates:
        aside = searched.decision.left_aside
        found = (f"{search_call} found no record of {field} {value!r}"
                 f"{f' ({aside} others it answered hold another {field})' if aside else ''}")
        return Failed(kind="permanent", error_type="ExternalIdNotFound", answer=searched.answer, not_found=found,
                      reason=f"{found}, and this command does not create it (it deactivates or cancels); create it "
                             "first and replay the dead letter, or take it for gone: remove gone: false from the route")
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
                                       "the target file; or its search shows a record it has just made only after "
                                       "a while (an eventually consistent search): say how long in the route's "
                                       "external_id.search, lag_s: <seconds>, and replay the dead letter)")
    return await _update(calls, searched, "found after a concurrent create", updates)


async def _search(calls: UpsertCalls, *, system: str, field: str, value: Any,
                  search_call: str) -> Searched | Failed:
    searched = await calls.search()
    if isinstance(searched, Failed) or searched.decision.action not in ("ambiguous", "misread", "unchecked"):
        return searched
    decision = searched.decision
    if decision.action == "misread":
        return Failed(kind="permanent", error_type="FoundIdMisread", answer=searched.answer,
                      reason=f"the answer of {search_call} does not fit its found_id: {decision.reason}; fix "
                             "found_id in the route's external_id search (the target file), then replay the dead "
                             "letter")
    if decision.action == "unchecked":
        return Failed(kind="permanent", error_type="ExternalIdUnchecked", answer=searched.answer,
                      reason=f"{search_call} answered records without the external id, so whether they hold {field} "
                             f"{value!r} exactly is unknown (a search filter can match loosely, e.g. by prefix): "
                             f"{decision.reason}; name the field of a found record that holds it as the search's "
                             "match (e.g. match: external_ref) in the route's external_id (the target file), then "
                             "replay the dead letter")
    found = decision.found
    aside = (f"; {decision.left_aside} more it answered hold another {field} and were left aside"
             if decision.left_aside else "")
    return Failed(kind="permanent", error_type="ExternalIdAmbiguous", answer=searched.answer,
                  reason=f"{len(found)} records of {system} hold {field} {value!r} exactly ({search_call} found "
                         f"{list(found)}{aside}); the external id must be unique: merge them in the target, then "
                         "replay the dead letter")


async def _update(calls: UpsertCalls, searched: Searched, how: str, updates: bool) -> Upserted | Failed:
    record_id = searched.decision.record_id
    if not updates:
        return Upserted(action=how, record_id=record_id, searched=searched.answer)
    answer = await calls.update(record_id)
    if isinstance(answer, Failed):
        return answer
    return Upserted(action=f"{how}, updated", record_id=record_id, answer=answer, searched=searched.answer)
