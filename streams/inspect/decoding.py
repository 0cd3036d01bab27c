"""Recognise and decode one Kafka record by its content, and summarise it in one line.

Avro single-object bytes (``C3 01`` + fingerprint) decode through the schema store; JSON with ``schema`` and
``payload`` is a Debezium record (Kafka Connect's JsonConverter); other JSON, text and bytes are shown as
they are. Values become JSON-compatible (decimals and times as strings) so filters and ``--json`` see one
shape.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from streams.codecs.avro.single_object import MARKER, SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, MessageEvent, Tombstone, TransactionEvent, decode
from streams.codecs.debezium.envelope import decode_key as debezium_key
from streams.codecs.exceptions import CodecError
from streams.inspect.masking import MASK, PiiCatalog
from streams.sinks.dlq import DeadLetterEntry
from streams.systems import Systems, load_systems

Headers = tuple[tuple[str, bytes | None], ...]



@functools.cache
def _declared() -> Systems:
    """The systems of ``systems/`` (or ``ISTHMUS_SYSTEMS_DIR``), read once per process."""
    return load_systems()


def system_of(topic: str, systems: Systems | None = None) -> tuple[str, str] | None:
    """The system and table a change-event topic carries, as the systems' files name their topics."""
    found = (systems if systems is not None else _declared()).by_topic(topic)
    return (found[0].name, found[1]) if found is not None else None


@dataclass(frozen=True, kw_only=True)
class RawRecord:
    """A consumed record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, kw_only=True)
class Decoded:
    """A record decoded: ``kind`` is avro, debezium, transaction, message, json, text, bytes or tombstone.
    ``changed``: the columns a Debezium update changed, kept by :func:`masked` (masked values no longer show
    which differ; the names are not personal data); None: read them from ``value``."""

    raw: RawRecord
    kind: str
    key: Any
    value: Any
    schema: str | None = None
    system: str | None = None
    table: str | None = None
    error: str | None = None
    changed: tuple[str, ...] | None = None

    @property
    def key_text(self) -> str:
        if self.key is None:
            return ""
        if isinstance(self.key, Mapping) and len(self.key) == 1:
            return str(next(iter(self.key.values())))
        return self.key if isinstance(self.key, str) else json.dumps(self.key, sort_keys=True, default=str)

    def header(self, name: str) -> str | None:
        for key, value in self.raw.headers:
            if key == name:
                return _text(value)
        return None

    def document(self) -> dict[str, Any]:
        """What a filter sees: the value, plus ``_key``, ``_topic``, ``_schema``, ``_kind``."""
        base = dict(self.value) if isinstance(self.value, Mapping) else {"value": self.value}
        base.update(_key=self.key, _topic=self.raw.topic, _schema=self.schema, _kind=self.kind,
                    _partition=self.raw.partition, _offset=self.raw.offset)
        return base


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return value


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


_NOT_JSON = object()


def decode_key(data: bytes | None, *, topic: str | None = None) -> Any:
    """Key bytes as every inspect command shows and matches them. A Debezium key (JsonConverter's schema and
    payload) is decoded by its Connect schema as the flows decode it (:func:`~streams.codecs.debezium.envelope.
    decode_key`): a DECIMAL, a date or a time stamp as its value, not as Connect's base64 or epoch count (a
    ``BIGINT UNSIGNED`` under ``bigint.unsigned.handling.mode: precise`` arrives as a Decimal); a struct key as its
    columns, any other as its value. A key whose payload does not fit its schema is shown as written. Avro
    single-object bytes show as hex, other JSON as it is, anything else as text. ``topic``: where the key was
    written, which finds its compiled schema first."""
    if data is None:
        return None
    if data[:2] == MARKER:
        return "0x" + data.hex()
    document = _json(data)
    if document is _NOT_JSON:
        return _text(data)
    if isinstance(document, Mapping) and "schema" in document and "payload" in document:
        return _connect_key(data, document, topic)
    return document


def _connect_key(data: bytes, document: Mapping[str, Any], topic: str | None) -> Any:
    try:
        key = debezium_key(data, topic=topic)
    except CodecError:
        return jsonable(document["payload"])
    if key is None:
        return None
    schema = document["schema"]
    struct = isinstance(schema, Mapping) and schema.get("type") == "struct"
    return jsonable(key if struct else key["value"])  # the Debezium decoder names a lone value "value"


def key_label(key: Any) -> str:
    """A decoded key on one line: a Debezium key's columns by name (``kd_nr=K-0005``), else the key's text."""
    if key is None:
        return "-"
    if isinstance(key, Mapping):
        return " ".join(f"{name}={key[name]}" for name in sorted(key)) or "-"
    return key if isinstance(key, str) else json.dumps(key, sort_keys=True, default=str)


def masked_key(key: Any, catalog: PiiCatalog) -> Any:
    """A decoded key with personal data hidden: the one rule for keys of every inspect command. A key names an
    entity (a customer number, a row's id) and is shown; a key column named like a personal field is hidden."""
    return catalog.mask_key(key)


def shown_key(data: bytes | None, catalog: PiiCatalog | None, *, topic: str | None = None) -> Any:
    """Key bytes as the inspect commands show them: decoded (:func:`decode_key`: a Debezium key to its columns),
    hidden by :func:`masked_key` unless ``catalog`` is None (personal data shown)."""
    key = decode_key(data, topic=topic)
    return key if catalog is None else masked_key(key, catalog)


def decode_record(raw: RawRecord, store: SchemaStore, systems: Systems | None = None) -> Decoded:
    """``systems``: the declared systems that name a change event's system by its topic (default: systems/)."""
    key = decode_key(raw.key, topic=raw.topic)
    data = raw.value
    if data is None:
        return Decoded(raw=raw, kind="tombstone", key=key, value=None)
    if data[:2] == MARKER:
        try:
            record = store.decode(data)
        except CodecError as exc:
            return Decoded(raw=raw, kind="bytes", key=key, value=_text(data), error=str(exc))
        return Decoded(raw=raw, kind="avro", key=key, value=jsonable(record.value), schema=record.schema)
    document = _json(data)
    if document is _NOT_JSON:
        text = _text(data)
        return Decoded(raw=raw, kind="text" if text and not text.startswith("0x") else "bytes", key=key,
                       value=text)
    if isinstance(document, Mapping) and "schema" in document and "payload" in document:
        return _debezium(raw, key, document, store, systems)
    return Decoded(raw=raw, kind="json", key=key, value=document)


def _debezium(raw: RawRecord, key: Any, document: Mapping[str, Any], store: SchemaStore,
              systems: Systems | None) -> Decoded:
    try:
        event = decode(raw.value, raw.key, topic=raw.topic)
    except CodecError as exc:
        return Decoded(raw=raw, kind="json", key=key, value=jsonable(document["payload"]), error=str(exc))
    if isinstance(event, ChangeEvent):
        source = event.source
        value = {"op": event.op.value, "before": jsonable(event.before), "after": jsonable(event.after),
                 "source": {"connector": source.connector, "name": source.name, "db": source.db,
                            "schema": source.schema, "table": source.table, "ts_ms": source.ts_ms,
                            "snapshot": source.snapshot},
                 "ts_ms": event.ts_ms}
        found = system_of(raw.topic, systems)
        return Decoded(raw=raw, kind="debezium", key=key, value=value,
                       system=found[0] if found else source.name, table=source.table)
    if isinstance(event, TransactionEvent):
        return Decoded(raw=raw, kind="transaction", key=key, value=jsonable(event))
    if isinstance(event, MessageEvent):
        return Decoded(raw=raw, kind="message", key=key, value=jsonable(event))
    assert isinstance(event, Tombstone)
    return Decoded(raw=raw, kind="tombstone", key=key, value=None)


def masked(record: Decoded, catalog: PiiCatalog) -> Decoded:
    """``record`` with personal data hidden (see :mod:`streams.inspect.masking`)."""
    if record.kind == "avro" and record.schema:
        value = catalog.mask_canonical(record.schema, record.value)
    elif record.kind == "debezium":
        value = catalog.mask_change(record.system or "", record.table or "", record.value)
    elif record.kind in ("text", "bytes"):
        value = MASK
    else:
        value = catalog.mask_unknown(record.value)
    changed = changed_columns(record) if record.kind == "debezium" else record.changed  # names, not values
    return dataclasses.replace(record, value=value, key=masked_key(record.key, catalog), changed=changed)


def changed_columns(record: Decoded) -> tuple[str, ...]:
    """The columns a Debezium update changed (none for another change), by name."""
    if record.changed is not None:
        return record.changed
    value = record.value
    if record.kind != "debezium" or not isinstance(value, Mapping) or value.get("op") != "u":
        return ()
    before, after = value.get("before"), value.get("after")
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return ()
    return tuple(sorted(k for k, v in after.items() if before.get(k) != v))


def _short(name: str | None) -> str:
    return (name or "").rpartition(".")[2]


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def summary(record: Decoded) -> str:
    """One line: what happened, to which entity."""
    value = record.value
    if record.kind == "debezium":
        ids = key_label(record.key) if isinstance(record.key, Mapping) and record.key else record.key_text
        line = f"{value['op']} {record.system}.{record.table} {ids}"
        if value["op"] == "u" and value.get("before") and value.get("after"):
            line += f" changed: {','.join(changed_columns(record)) or '-'}"
        return line
    if record.kind == "avro" and isinstance(value, Mapping):
        name = _short(record.schema)
        entity = record.key_text  # canonical records, commands and results are keyed by their entity
        extra = {
            "Command": lambda: f"{value.get('operation')} {_short(value.get('payload_type'))} -> "
                               f"{value.get('target')}",
            "CommandResult": lambda: f"{value.get('operation')} {_short(value.get('payload_type'))} "
                                     f"status {value.get('status')} on {value.get('target')}",
            "ConflictRecord": lambda: f"field {value.get('field')} won by {value.get('winner')} "
                                      f"({value.get('policy')}" + (f", {value['rule']})" if value.get("rule") else ")"),
            "Hold": lambda: f"{value.get('state')} ({value.get('cause')}) by {value.get('flow')}: "
                            f"{_clip(str(value.get('message')))}",
            "DeadLetter": lambda: f"{value.get('stage')} {value.get('error_type')}: {_clip(str(value.get('reason')))}"
                                  f" from {value.get('topic')}[{value.get('partition')}]@{value.get('offset')}",
        }.get(name)
        return f"{name} {entity}" + (f" {extra()}" if extra else "")
    if record.kind == "transaction" and isinstance(value, Mapping):
        return f"transaction {value.get('status')} {value.get('id')}"
    if record.kind == "tombstone":
        return f"tombstone {record.key_text}"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return f"{record.kind} {_clip(text)}"


__all__ = [
    "Decoded",
    "RawRecord",
    "changed_columns",
    "decode_key",
    "decode_record",
    "jsonable",
    "key_label",
    "masked",
    "masked_key",
    "shown_key",
    "summary",
    "system_of",
]


def letter_key(entry: DeadLetterEntry, catalog: PiiCatalog | None) -> Any:
    """A dead letter's original key as every inspect command shows a key (:func:`shown_key`): a Debezium key
    decoded to its columns, masked by the rule for keys unless ``catalog`` is None (personal data shown)."""
    key, topic = entry.letter.get("key"), entry.letter.get("topic")
    return shown_key(None if key is None else bytes(key), catalog, topic=topic if isinstance(topic, str) else None)


def letter_entity(entry: DeadLetterEntry, store: SchemaStore, catalog: PiiCatalog | None) -> str:
    """What a dead letter is about, on one line: a command's entity key, else its original key (``kd_nr=K-0005``),
    for ``isthmus topics dlq`` and the dashboard alike."""
    command = entry.command(store)
    return str(command["entity_key"]) if command is not None else key_label(letter_key(entry, catalog))
