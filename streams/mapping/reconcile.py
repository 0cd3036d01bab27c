"""Field ownership and conflict policies: fold one system's change into the reconciled record.

Each reconciled field remembers who set its value and when that value committed (its stamp). A change
*asserts* some fields (see :class:`~streams.mapping.engine.MappedChange`). For each asserted field whose
value differs from the reconciled one:

- ``owner_wins``: the owner's value is taken. The other system's is refused while the owner's value
  stands (the flows write the owner's value back to it); it is taken only provisionally, while the owner
  holds no value yet (then the owner's first value replaces it without a conflict: nothing had been
  decided). The owner holds a value it set itself, and one Isthmus wrote into it once it reported it back:
  an echo is asserted by no change, so the entity flow stamps that value as the owner's when the owner
  reports it (:mod:`streams.flows.customers.sync`), and from then on it stands.
- ``latest_commit_wins``: the later source commit is taken. Two systems' commit times are compared at the
  coarser precision of the two (``clocks``: MariaDB's have whole seconds, PostgreSQL's microseconds, so
  12:00:00.700 in one and 12:00:00 in the other are the same instant). On the same instant, what the change
  proves decides: its before-image held the standing value, so it was made on top of it, and it wins;
  without that proof (no before-image, or another value in it) the owner's value is taken.

A conflict record (for the audit topic) is written whenever a field is settled against the other
system: an incoming value is refused while the other system's value stands, or (latest_commit_wins) it
overwrites a value of the other system that the writer had not seen, because its before-image differs
from it or there is no before-image. An echo (a system reporting the value Isthmus wrote into it)
changes no value. A nested record asserted by a source that knows only some of its fields is compared
and merged on those fields only. Each record names the :class:`Rule` that decided it. A null is a value like
any other: a field set to null by the winning system is null in the record.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from streams.mapping.exceptions import MappingError
from streams.mapping.spec import FieldPolicy, Policy

_MISSING = object()


class Rule(StrEnum):
    """What decided a field, as the conflict audit record's ``rule`` says."""

    #: ``owner_wins``: the owner's value stands (or a provisional value stands while the owner has set none).
    OWNER = "owner"
    #: ``latest_commit_wins``: the value of the later commit, at the coarser precision of the two clocks.
    LATER_COMMIT = "later_commit"
    #: Same instant at that precision; the change's before-image held the standing value: made on top of it.
    MADE_ON_TOP = "made_on_top"
    #: Same instant at that precision, and nothing proves which came first: the owner's value.
    OWNER_ON_TIE = "owner_on_tie"
    #: The record's value is null, and the system that keeps another cannot clear the field (the entity
    #: section's ``cannot_clear``): no command is sent, the difference stays (:func:`uncleared`).
    CANNOT_CLEAR = "cannot_clear"


def truncated(time: dt.datetime, resolution: dt.timedelta) -> dt.datetime:
    """``time`` cut down to a multiple of ``resolution`` (since the epoch, in its own zone)."""
    if resolution <= dt.timedelta(microseconds=1):
        return time
    epoch = dt.datetime(1970, 1, 1, tzinfo=time.tzinfo)
    return time - (time - epoch) % resolution


def _instants(one: tuple[str, dt.datetime], other: tuple[str, dt.datetime],
              clocks: Mapping[str, dt.timedelta]) -> tuple[dt.datetime, dt.datetime]:
    """Two systems' commit times at the coarser precision of the two (a system not in ``clocks``: exact)."""
    step = max(clocks.get(one[0], dt.timedelta(0)), clocks.get(other[0], dt.timedelta(0)))
    return truncated(one[1], step), truncated(other[1], step)


@dataclass(frozen=True, kw_only=True)
class Stamp:
    """Which system set a field's value, and when that value committed at the source."""

    system: str
    commit_time: dt.datetime


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """The outcome of one change: the new record and stamps, the fields whose value changed, the
    conflict records to audit, and the fields where the incoming system lost (the flows write the
    winning value back to it)."""

    record: Mapping[str, Any]
    provenance: Mapping[str, Stamp]
    changed: tuple[str, ...]
    conflicts: tuple[Mapping[str, Any], ...]
    rejected: tuple[str, ...]


def to_json(value: Any) -> str | None:
    """A value as JSON for the audit record: decimals as strings, times as ISO 8601."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):  # as a command's payload writes them
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def conflict_id(entity_type: str, entity_key: str, field: str, commit_times: Mapping[str, dt.datetime]) -> str:
    """Deterministic: replaying the same changes produces the same conflict ids (the commit times in system-name
    order, as the CRM's then the ERP's were before systems became data, so ids did not change)."""
    times = [str(commit_times[name]) for name in sorted(commit_times)]
    text = "|".join((entity_type, entity_key, field, *times))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _conflict(*, entity_type: str, entity_key: str, field: str, policy: FieldPolicy, winner: str, rule: Rule,
              incoming: tuple[str, Any, dt.datetime], standing: tuple[str, Any, dt.datetime],
              settled_at: dt.datetime) -> Mapping[str, Any]:
    by_system = {incoming[0]: incoming, standing[0]: standing}
    commit_times = {name: side[2] for name, side in sorted(by_system.items())}
    return MappingProxyType({
        "conflict_id": conflict_id(entity_type, entity_key, field, commit_times),
        "entity_type": entity_type, "entity_key": entity_key, "field": field,
        "values": {name: to_json(side[1]) for name, side in sorted(by_system.items())},
        "commit_times": commit_times,
        "policy": policy.policy.value, "owner": policy.owner, "winner": winner, "rule": rule.value,
        "settled_at": settled_at,
    })


def uncleared(*, entity_type: str, entity_key: str, field: str, policy: FieldPolicy, stamp: Stamp | None,
              target: str, kept: Any, settled_at: dt.datetime) -> Mapping[str, Any]:
    """The audit record of a null that ``target`` cannot clear (:attr:`Rule.CANNOT_CLEAR`): the record keeps null
    (set by ``stamp``'s system), ``target`` keeps ``kept``. Its id is the field's at ``target`` and the null's
    commit time, so a replay writes the same id."""
    setter = stamp.system if stamp is not None else policy.owner
    commit_times = {stamp.system: stamp.commit_time} if stamp is not None else {}
    return MappingProxyType({
        "conflict_id": conflict_id(entity_type, entity_key, f"{field}@{target}", commit_times),
        "entity_type": entity_type, "entity_key": entity_key, "field": field,
        "values": {setter: None, target: to_json(kept)}, "commit_times": commit_times,
        "policy": policy.policy.value, "owner": policy.owner, "winner": setter, "rule": Rule.CANNOT_CLEAR.value,
        "settled_at": settled_at,
    })


def _merged(old: Any, new: Any) -> Any:
    """A nested record from a source that knows only some of its fields (the ERP's billing address has
    no second line) updates those fields and keeps the others, so it is not a perpetual difference."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return {**old, **new}
    return new


def reconcile(*, entity_type: str, entity_key: str, current: Mapping[str, Any] | None,
              provenance: Mapping[str, Stamp], incoming: Mapping[str, Any], asserted: tuple[str, ...],
              base: Mapping[str, Any] | None, system: str, commit_time: dt.datetime,
              policies: Mapping[str, FieldPolicy], settled_at: dt.datetime,
              clocks: Mapping[str, dt.timedelta] | None = None) -> Reconciled:
    """Fold the ``asserted`` fields of ``incoming`` (from ``system``, committed at ``commit_time``) into
    ``current``. ``clocks``: each system's commit-time resolution (:attr:`streams.systems.Systems.clocks`); a
    system not in it keeps exact times. Pure: the same inputs always give the same result."""
    record = dict(current or {})
    stamps = dict(provenance)
    changed, conflicts, rejected = reconcile_into(
        record, stamps, has_record=current is not None, entity_type=entity_type, entity_key=entity_key,
        incoming=incoming, asserted=asserted, base=base, system=system, commit_time=commit_time, policies=policies,
        settled_at=settled_at, clocks=clocks)
    return Reconciled(record=MappingProxyType(record), provenance=MappingProxyType(stamps), changed=changed,
                      conflicts=conflicts, rejected=rejected)


#: Types no value of which is a mapping: :func:`_merged` needs no ``isinstance`` of the ABC for them (most values).
_NOT_MAPPINGS = frozenset({str, int, bool, float, Decimal, dt.datetime, dt.date, bytes, type(None)})


def reconcile_into(record: dict[str, Any], stamps: dict[str, Stamp], *, has_record: bool = True, entity_type: str,
                   entity_key: str, incoming: Mapping[str, Any], asserted: tuple[str, ...],
                   base: Mapping[str, Any] | None, system: str, commit_time: dt.datetime,
                   policies: Mapping[str, FieldPolicy], settled_at: dt.datetime,
                   clocks: Mapping[str, dt.timedelta] | None = None,
                   ) -> tuple[tuple[str, ...], tuple[Mapping[str, Any], ...], tuple[str, ...]]:
    """:func:`reconcile` into ``record`` and ``stamps`` themselves (changed in place), for a caller that keeps the
    outcome as its own (an entity's state replaced both by copies of the outcome: two copies of each a change);
    returns the changed fields, the conflicts and the rejected fields. ``has_record``: ``record`` is a record (else
    it stands for none: every asserted field is new)."""
    clocks = clocks or {}
    changed: list[str] = []
    conflicts: list[Mapping[str, Any]] = []
    rejected: list[str] = []
    here = Stamp(system=system, commit_time=commit_time)
    for field in asserted:
        if field not in policies:
            raise MappingError(f"{entity_type}.{field} has no owner and policy; declare it in the mapping file")
        policy = policies[field]
        has_current = has_record and field in record
        old = record.get(field)
        new = incoming[field]
        if type(new) not in _NOT_MAPPINGS and type(old) not in _NOT_MAPPINGS:
            new = _merged(old, new)
        stamp = stamps.get(field)
        if stamp is None or not has_current:
            if not has_current or new != old:
                record[field] = new
                changed.append(field)
            stamps[field] = here
            continue
        if new == old:
            if (system == policy.owner and stamp.system != system) or (
                    stamp.system == system and commit_time > stamp.commit_time):
                stamps[field] = here
            continue
        other = stamp.system != system
        if policy.policy is Policy.OWNER_WINS:
            wins = system == policy.owner or stamp.system == system
            settled_against_other = other and not wins
            rule = Rule.OWNER
        else:
            seen = base.get(field, _MISSING) if base is not None else _MISSING
            on_top = seen is not _MISSING and _merged(old, seen) == old
            mine, theirs = _instants((system, commit_time), (stamp.system, stamp.commit_time), clocks)
            if mine != theirs:
                wins, rule = mine > theirs, Rule.LATER_COMMIT
            elif on_top:
                wins, rule = True, Rule.MADE_ON_TOP
            else:
                wins, rule = system == policy.owner, Rule.OWNER_ON_TIE
            settled_against_other = other and (not wins or not on_top)
        if wins:
            record[field] = new
            stamps[field] = here
            changed.append(field)
        else:
            rejected.append(field)
        if settled_against_other:
            conflicts.append(_conflict(
                entity_type=entity_type, entity_key=entity_key, field=field, policy=policy,
                winner=system if wins else stamp.system, rule=rule, incoming=(system, new, commit_time),
                standing=(stamp.system, old, stamp.commit_time), settled_at=settled_at))
    return tuple(changed), tuple(conflicts), tuple(rejected)


def stamps_to_avro(provenance: Mapping[str, Stamp]) -> dict[str, dict[str, Any]]:
    """Provenance as the ``provenance`` map of the Customer schema (``FieldStamp`` values)."""
    return {f: {"system": s.system, "commit_time": s.commit_time} for f, s in provenance.items()}


def stamps_from_avro(values: Mapping[str, Mapping[str, Any]]) -> dict[str, Stamp]:
    return {f: Stamp(system=str(v["system"]), commit_time=v["commit_time"]) for f, v in values.items()}
