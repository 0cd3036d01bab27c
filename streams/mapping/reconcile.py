"""Field ownership and conflict policies: fold one system's change into the reconciled record.

Each reconciled field remembers who set its value and when that value committed (its stamp). A change
*asserts* some fields (see :class:`~streams.mapping.engine.MappedChange`). For each asserted field whose
value differs from the reconciled one:

- ``owner_wins``: the owner's value is taken. The other system's is refused while the owner's value
  stands; it is taken only provisionally, while the owner has not set the field yet (then the owner's
  first value replaces it without a conflict: nothing had been decided).
- ``latest_commit_wins``: the later source commit is taken; on equal commit times (MariaDB's have
  whole-second resolution) the owner wins.

A conflict record (for the audit topic) is written whenever a field is settled against the other
system: an incoming value is refused while the other system's value stands, or (latest_commit_wins) it
overwrites a value of the other system that the writer had not seen, because its before-image differs
from it or there is no before-image. An echo (a system reporting the value Isthmus wrote into it)
changes nothing. A nested record asserted by a source that knows only some of its fields is compared
and merged on those fields only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from streams.mapping.exceptions import MappingError
from streams.mapping.spec import FieldPolicy, Policy

_MISSING = object()


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


def _conflict(*, entity_type: str, entity_key: str, field: str, policy: FieldPolicy, winner: str,
              incoming: tuple[str, Any, dt.datetime], standing: tuple[str, Any, dt.datetime],
              settled_at: dt.datetime) -> Mapping[str, Any]:
    by_system = {incoming[0]: incoming, standing[0]: standing}
    commit_times = {name: side[2] for name, side in sorted(by_system.items())}
    return MappingProxyType({
        "conflict_id": conflict_id(entity_type, entity_key, field, commit_times),
        "entity_type": entity_type, "entity_key": entity_key, "field": field,
        "values": {name: to_json(side[1]) for name, side in sorted(by_system.items())},
        "commit_times": commit_times,
        "policy": policy.policy.value, "owner": policy.owner, "winner": winner,
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
              policies: Mapping[str, FieldPolicy], settled_at: dt.datetime) -> Reconciled:
    """Fold the ``asserted`` fields of ``incoming`` (from ``system``, committed at ``commit_time``) into
    ``current``. Pure: the same inputs always give the same result."""
    record = dict(current or {})
    stamps = dict(provenance)
    changed: list[str] = []
    conflicts: list[Mapping[str, Any]] = []
    rejected: list[str] = []
    here = Stamp(system=system, commit_time=commit_time)
    for field in asserted:
        if field not in policies:
            raise MappingError(f"{entity_type}.{field} has no owner and policy; declare it in the mapping file")
        policy = policies[field]
        has_current = current is not None and field in record
        old = record.get(field)
        new = _merged(old, incoming[field])
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
        else:
            wins = commit_time > stamp.commit_time or (
                commit_time == stamp.commit_time and system == policy.owner)
            seen = base.get(field, _MISSING) if base is not None else _MISSING
            settled_against_other = other and (not wins or seen is _MISSING or _merged(old, seen) != old)
        if wins:
            record[field] = new
            stamps[field] = here
            changed.append(field)
        else:
            rejected.append(field)
        if settled_against_other:
            conflicts.append(_conflict(
                entity_type=entity_type, entity_key=entity_key, field=field, policy=policy,
                winner=system if wins else stamp.system, incoming=(system, new, commit_time),
                standing=(stamp.system, old, stamp.commit_time), settled_at=settled_at))
    return Reconciled(record=MappingProxyType(record), provenance=MappingProxyType(stamps),
                      changed=tuple(changed), conflicts=tuple(conflicts), rejected=tuple(rejected))


def stamps_to_avro(provenance: Mapping[str, Stamp]) -> dict[str, dict[str, Any]]:
    """Provenance as the ``provenance`` map of the Customer schema (``FieldStamp`` values)."""
    return {f: {"system": s.system, "commit_time": s.commit_time} for f, s in provenance.items()}


def stamps_from_avro(values: Mapping[str, Mapping[str, Any]]) -> dict[str, Stamp]:
    return {f: Stamp(system=str(v["system"]), commit_time=v["commit_time"]) for f, v in values.items()}
