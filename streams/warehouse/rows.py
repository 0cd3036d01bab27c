"""One Kafka record of a captured table to one warehouse change: an upsert, a delete, a rejection or nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op, decode
from streams.codecs.exceptions import CodecError
from streams.warehouse.exceptions import RowRejected
from streams.warehouse.tables import BY_TOPIC, MAPPING_VERSION, Rules, TableSpec


@dataclass(frozen=True, kw_only=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, kw_only=True)
class Change:
    """A row to upsert (``deleted`` false) or to mark deleted, with its lineage columns."""

    spec: TableSpec
    values: dict[str, Any]
    deleted: bool
    lineage: dict[str, Any]

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.values[k] for k in self.spec.key)


@dataclass(frozen=True, kw_only=True)
class Rejection:
    position: Position
    table: str
    source_key: str | None
    reason: str


Outcome = Change | Rejection | None


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def source_key_text(key: Mapping[str, Any] | None) -> str | None:
    """The Debezium key as compact JSON with sorted names (``{"invoice_id":12}``)."""
    if key is None:
        return None
    return json.dumps(_json_value(dict(key)), sort_keys=True, separators=(",", ":"))


def to_change(position: Position, key: bytes | None, value: bytes | None, rules: Rules) -> Outcome:
    """What one record of a captured table means for the warehouse (None: nothing to load)."""
    spec = BY_TOPIC.get(position.topic)
    if spec is None:
        return None
    where = f"{position.topic}[{position.partition}]@{position.offset}"
    try:
        event = decode(value, key, topic=position.topic, where=where)
    except CodecError as exc:
        return Rejection(position=position, table=spec.table, source_key=None, reason=f"undecodable: {exc}")
    if not isinstance(event, ChangeEvent) or event.op is Op.TRUNCATE:
        return None
    key_text = source_key_text(event.key)
    lineage = {
        "source_system": spec.system, "source_table": spec.table, "source_key": key_text or "",
        "source_commit_time": event.source.commit_time, "source_topic": position.topic,
        "source_partition": position.partition, "source_offset": position.offset,
        "mapping_version": MAPPING_VERSION,
    }
    try:
        if event.op is Op.DELETE:
            return Change(spec=spec, values=_delete_key(spec, event), deleted=True, lineage=lineage)
        row = event.after or {}
        values = spec.build(row, rules)
        extra = {k: v for k, v in row.items() if k not in spec.consumed}
        values["attributes"] = json.dumps(_json_value(extra), sort_keys=True)
    except RowRejected as exc:
        return Rejection(position=position, table=spec.table, source_key=key_text,
                         reason=f"{spec.system}.{spec.table} {key_text}: {exc}")
    return Change(spec=spec, values=values, deleted=False, lineage=lineage)


def _delete_key(spec: TableSpec, event: ChangeEvent) -> dict[str, Any]:
    image = dict(event.before or {})
    image.update(event.key or {})
    missing = [column for column in spec.source_key if image.get(column) is None]
    if missing:
        raise RowRejected(f"a delete without its key column(s) {', '.join(missing)}")
    return {target: image[source] for target, source in zip(spec.key, spec.source_key, strict=True)}
