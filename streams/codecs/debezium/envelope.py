"""Debezium records as Kafka Connect's JsonConverter writes them with schemas enabled (schema + payload).

:func:`decode` turns one Kafka record into one immutable value: a :class:`ChangeEvent` (c, u, d, r, t), a
:class:`MessageEvent` (m, PostgreSQL logical decoding messages), a :class:`TransactionEvent` (BEGIN/END on
``<prefix>.transaction``) or a :class:`Tombstone` (null value after a delete, for log compaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import orjson

from streams.codecs.debezium.compiled import CompiledSchema
from streams.codecs.debezium.schema_cache import SchemaCache
from streams.codecs.debezium.values import decode_struct, decode_value
from streams.codecs.exceptions import CodecError, FieldDecodeError, MalformedJson, NotAnEnvelope

TRANSACTION_SCHEMA = "io.debezium.connector.common.TransactionMetadataValue"
_SOURCE_FIELDS = frozenset({"version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence",
                            "schema", "table", "txId", "lsn", "xmin", "file", "pos", "row", "gtid", "server_id",
                            "thread", "query"})

Row = Mapping[str, Any]

log = logging.getLogger(__name__)


class Op(StrEnum):
    """Debezium's operation codes."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"
    TRUNCATE = "t"
    MESSAGE = "m"


class TransactionStatus(StrEnum):
    BEGIN = "BEGIN"
    END = "END"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch(ts_ms: int, ts_us: int | None) -> dt.datetime:
    micros = ts_us if ts_us is not None else ts_ms * 1000
    return _EPOCH + dt.timedelta(microseconds=micros)


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Source:
    """Debezium's ``source`` block: where and when the change was committed."""

    connector: str
    name: str
    version: str
    db: str
    ts_ms: int
    ts_us: int | None = None
    snapshot: str = "false"
    schema: str | None = None
    table: str | None = None
    sequence: str | None = None
    tx_id: int | None = None
    lsn: int | None = None
    xmin: int | None = None
    file: str | None = None
    pos: int | None = None
    row: int | None = None
    gtid: str | None = None
    server_id: int | None = None
    thread: int | None = None
    query: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @functools.cached_property
    def commit_time(self) -> dt.datetime:
        """Commit time of the source transaction, UTC; MariaDB's has whole-second resolution. Cached: a flow
        reads it several times a change (its fold, its cause, its lineage)."""
        return _epoch(self.ts_ms, self.ts_us)

    @property
    def is_snapshot(self) -> bool:
        return self.snapshot not in ("false", "")

    @property
    def position(self) -> str:
        """The log position, readable: ``lsn=…`` on PostgreSQL, ``file:pos#row`` (and GTID) on MariaDB."""
        if self.lsn is not None:
            return f"lsn={self.lsn}"
        if self.file is not None:
            gtid = f" gtid={self.gtid}" if self.gtid else ""
            return f"{self.file}:{self.pos}#{self.row}{gtid}"
        return f"ts_ms={self.ts_ms}"

    def position_key(self) -> tuple[Any, ...]:
        """Sorts the changes of one connector in log order."""
        if self.lsn is not None:
            return (self.lsn,)
        return (self.file or "", self.pos or 0, self.row or 0)

    @classmethod
    def from_payload(cls, source: Mapping[str, Any], where: str) -> Source:
        for required in ("connector", "name", "ts_ms", "db"):
            if source.get(required) is None:
                raise NotAnEnvelope(f"the source block has no {required!r}", where=where)
        extra = {k: v for k, v in source.items() if k not in _SOURCE_FIELDS}
        get = source.get
        # Every field set at once, not through the frozen dataclass's __init__ (one object.__setattr__ per field,
        # 21 of them: a twentieth of decoding a change, issue 17); the values are the ones __init__ would get.
        made = object.__new__(cls)
        made.__dict__.update(
            connector=str(source["connector"]), name=str(source["name"]), version=str(get("version", "")),
            db=str(source["db"]), ts_ms=int(source["ts_ms"]), ts_us=get("ts_us"),
            snapshot=str(get("snapshot") or "false"), schema=get("schema") or None, table=get("table") or None,
            sequence=get("sequence"), tx_id=get("txId"), lsn=get("lsn"), xmin=get("xmin"), file=get("file"),
            pos=get("pos"), row=get("row"), gtid=get("gtid"), server_id=get("server_id"), thread=get("thread"),
            query=get("query"), extra=MappingProxyType(extra) if extra else _NO_EXTRA)
        return made


@dataclass(frozen=True, kw_only=True)
class TransactionBlock:
    """Debezium's ``transaction`` block: the transaction id and this event's order within it."""

    id: str
    total_order: int
    data_collection_order: int

    @property
    def tx_key(self) -> str:
        """What every event of the transaction shares; see :func:`transaction_key`."""
        return transaction_key(self.id)


@dataclass(frozen=True, kw_only=True)
class ChangeEvent:
    """One row change: create, update, delete, snapshot read or truncate."""

    op: Op
    source: Source
    before: Row | None = None
    after: Row | None = None
    transaction: TransactionBlock | None = None
    ts_ms: int | None = None
    key: Row | None = None
    topic: str | None = None

    def with_images(self, before: Row | None, after: Row | None) -> ChangeEvent:
        """This change with ``before`` and ``after`` for its images: ``dataclasses.replace``, its fields set at once
        (a flow that remembers rows gives most updates and deletes their before-image so)."""
        if type(self) is not ChangeEvent:
            return dataclasses.replace(self, before=before, after=after)
        made = object.__new__(ChangeEvent)
        made.__dict__.update(op=self.op, source=self.source, before=before, after=after,
                             transaction=self.transaction, ts_ms=self.ts_ms, key=self.key, topic=self.topic)
        return made

    @property
    def row(self) -> Row | None:
        """The row as it is now, or as it was before a delete."""
        return self.before if self.op is Op.DELETE else self.after

    @property
    def table(self) -> str | None:
        return self.source.table

    @property
    def commit_time(self) -> dt.datetime:
        return self.source.commit_time


@dataclass(frozen=True, kw_only=True)
class MessageEvent:
    """A logical decoding message (PostgreSQL ``pg_logical_emit_message``)."""

    prefix: str | None
    content: bytes | None
    source: Source
    transaction: TransactionBlock | None = None
    ts_ms: int | None = None
    key: Row | None = None
    topic: str | None = None
    op: Op = Op.MESSAGE


@dataclass(frozen=True, kw_only=True)
class Tombstone:
    """The null-valued record Debezium writes after a delete so that compaction can drop the key."""

    key: Row | None
    topic: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionEvent:
    """BEGIN or END of a source transaction; END counts the events it wrote per table."""

    status: TransactionStatus
    id: str
    ts_ms: int
    event_count: int | None = None
    data_collections: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    topic: str | None = None

    @property
    def tx_key(self) -> str:
        """What BEGIN, END and the data events of one transaction share; see :func:`transaction_key`."""
        return transaction_key(self.id)

    @property
    def commit_time(self) -> dt.datetime:
        return _epoch(self.ts_ms, None)


def transaction_key(transaction_id: str) -> str:
    """The part of a Debezium transaction id that is equal across one transaction.

    PostgreSQL (Debezium 3.6) writes ``txId:lsn`` with the LSN *of each event*: BEGIN, every data event and
    END of one transaction carry different ids, and only the txId before the colon matches. MariaDB ids are
    the GTID, equal across the transaction.
    """
    head, sep, tail = transaction_id.partition(":")
    return head if sep and head.isdigit() and tail.isdigit() else transaction_id


Record = ChangeEvent | MessageEvent | Tombstone | TransactionEvent


def _json(data: bytes | str, what: str, where: str) -> Any:
    """orjson first (the worker spent an eighth of its time in the standard parser here; Connect's integers
    are Java longs, within orjson's exact range); the standard parser for what orjson refuses (NaN), and to
    say precisely what is wrong with a malformed record."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"the {what} is not UTF-8 text: {exc}", where=where) from exc
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"the {what} is not JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); "
                            "the connector must use org.apache.kafka.connect.json.JsonConverter",
                            where=where) from exc


def _with_schema(document: Any, what: str, where: str) -> tuple[Mapping[str, Any], Any]:
    if not isinstance(document, dict) or "payload" not in document or "schema" not in document:
        raise NotAnEnvelope(f"the {what} is JSON without the schema and payload envelope; set "
                            f"{what}.converter.schemas.enable=true on the connector", where=where)
    schema = document["schema"]
    if not isinstance(schema, dict):
        raise NotAnEnvelope(f"the {what}'s schema is {type(schema).__name__}, not a Connect schema object",
                            where=where)
    return schema, document["payload"]


def decode_key(data: bytes | str | None, *, where: str = "key", topic: str | None = None,
               schemas: SchemaCache | None = None) -> Row | None:
    """A record key as a mapping of its fields (None when the record has no key); compiled as in
    :func:`decode`, ``topic`` telling where its schema was last seen."""
    try:
        return _compiled_key(data, topic, _SCHEMAS if schemas is None else schemas)
    except Exception:  # the interpreting decoder below raises the error with its field, or copes
        return _interpreted_key(data, where=where)


def _interpreted_key(data: bytes | str | None, *, where: str) -> Row | None:
    if data is None:
        return None
    schema, payload = _with_schema(_json(data, "key", where), "key", where)
    if payload is None:
        return None
    if schema.get("type") == "struct":
        return decode_struct(payload, schema, where)
    return MappingProxyType({"value": decode_value(payload, schema, where)})


def _field_schemas(schema: Mapping[str, Any], where: str) -> dict[str, Mapping[str, Any]]:
    fields = schema.get("fields")
    if schema.get("type") != "struct" or not isinstance(fields, list):
        raise NotAnEnvelope("the value schema is not a struct with fields", where=where)
    return {str(f.get("field")): f for f in fields if isinstance(f, dict)}


def _block(payload: Mapping[str, Any], where: str) -> TransactionBlock | None:
    block = payload.get("transaction")
    if block is None:
        return None
    try:
        made = object.__new__(TransactionBlock)  # its fields set at once (see ChangeEvent's in _compiled)
        made.__dict__.update(id=str(block["id"]), total_order=int(block["total_order"]),
                             data_collection_order=int(block["data_collection_order"]))
        return made
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAnEnvelope(f"the transaction block is incomplete: {exc}", where=where) from exc


#: Each transaction status by its text: a look-up, not a call of the enum (every END).
_STATUSES: Mapping[str, TransactionStatus] = MappingProxyType({s.value: s for s in TransactionStatus})


def _transaction(schema: Mapping[str, Any], payload: Mapping[str, Any], topic: str | None,
                 where: str) -> TransactionEvent:
    try:
        raw = payload["status"]
        status = _STATUSES.get(raw) if type(raw) is str else None
        if status is None:
            status = TransactionStatus(raw)  # not one: refused as the enum refuses it
        collections = payload.get("data_collections") or ()
        made = object.__new__(TransactionEvent)  # its fields set at once (see ChangeEvent's in _compiled)
        made.__dict__.update(
            status=status, id=str(payload["id"]), ts_ms=int(payload["ts_ms"]),
            event_count=payload.get("event_count"),
            data_collections=MappingProxyType({str(c["data_collection"]): int(c["event_count"])
                                               for c in collections}),
            topic=topic)
        return made
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAnEnvelope(f"a transaction metadata event needs status BEGIN or END, id and ts_ms: {exc!r}",
                            where=where) from exc


def decode(value: bytes | str | None, key: bytes | str | None = None, *, topic: str | None = None,
           where: str | None = None, schemas: SchemaCache | None = None) -> Record:
    """Decode one Kafka record written by a Debezium connector through JsonConverter with schemas enabled.

    Each distinct Connect schema is compiled once into ``schemas`` (a cache shared by the process unless
    given) and then only the record's payload is parsed and converted. A record that path does not take
    whole (an error, or anything unusual) is decoded again by reading its schema field by field, which
    says what is wrong and where: the field, and ``where`` (the record's position).
    """
    try:
        return _compiled(value, key, topic, where or topic or "record", _SCHEMAS if schemas is None else schemas)
    except Exception:  # the interpreting decoder below raises the error with its field, or copes
        return _interpreted(value, key, topic=topic, where=where)


def _interpreted(value: bytes | str | None, key: bytes | str | None, *, topic: str | None,
                 where: str | None) -> Record:
    """:func:`decode` by walking the record's schema: the reference the compiled path must agree with."""
    where = where or topic or "record"
    decoded_key = _interpreted_key(key, where=f"{where} key")
    if value is None:
        return Tombstone(key=decoded_key, topic=topic)
    schema, payload = _with_schema(_json(value, "value", where), "value", where)
    if not isinstance(payload, dict):
        raise NotAnEnvelope(f"the payload is {type(payload).__name__}, not an object", where=where)
    if schema.get("name") == TRANSACTION_SCHEMA or ("status" in payload and "op" not in payload):
        return _transaction(schema, payload, topic, where)
    raw_op = payload.get("op")
    try:
        op = Op(str(raw_op))
    except ValueError:
        codes = ", ".join(o.value for o in Op)
        raise NotAnEnvelope(f"op {raw_op!r} is not a Debezium operation ({codes}); is this topic written "
                            "by a Debezium connector without an unwrapping transform?",
                            where=where) from None
    fields = _field_schemas(schema, where)
    if "source" not in fields or not isinstance(payload.get("source"), dict):
        raise NotAnEnvelope("the envelope has no source block", where=where)
    source = Source.from_payload(decode_struct(payload["source"], fields["source"], f"{where} source"), where)
    block = _block(payload, where)
    ts_ms = payload.get("ts_ms")
    if op is Op.MESSAGE:
        message = payload.get("message")
        if not isinstance(message, dict) or "message" not in fields:
            raise NotAnEnvelope("an op 'm' event without a message block", where=where)
        body = decode_struct(message, fields["message"], f"{where} message")
        return MessageEvent(prefix=body.get("prefix"), content=body.get("content"), source=source,
                            transaction=block, ts_ms=ts_ms, key=decoded_key, topic=topic)
    images: dict[str, Row | None] = {}
    for image in ("before", "after"):
        raw = payload.get(image)
        if raw is None:
            images[image] = None
            continue
        if image not in fields:
            raise NotAnEnvelope(f"the payload has {image!r} but the schema does not describe it", where=where)
        try:
            images[image] = decode_struct(raw, fields[image], f"{where} {image}")
        except FieldDecodeError as exc:
            if image != "before" or op is not Op.UPDATE:
                raise
            _dropped_before(topic, where, exc)
            images[image] = None  # as an update under the default replica identity: the after image decides
    expected = {Op.CREATE: ("after",), Op.READ: ("after",), Op.UPDATE: ("after",), Op.DELETE: ("before",)}
    for image in expected.get(op, ()):
        if images[image] is None:
            raise FieldDecodeError(f"an op {op.value!r} event without its {image!r} image", where=where)
    return ChangeEvent(op=op, source=source, before=images["before"], after=images["after"],
                       transaction=block, ts_ms=ts_ms, key=decoded_key, topic=topic)


#: (topic, column) of every before-image value dropped so far: each is logged once per process.
_DROPPED_BEFORE: set[tuple[str | None, str]] = set()


def _dropped_before(topic: str | None, where: str, error: FieldDecodeError) -> None:
    """Say, once per topic and column, that an update's before image was dropped because a value in it does not
    decode (a row that held PostgreSQL's date 'infinity' under REPLICA IDENTITY FULL, and the update correcting
    it): the change is decoded from its after image alone, as under the default replica identity, rather than
    held until the value it corrects is gone."""
    column = (error.where or "").removeprefix(f"{where} before").lstrip(".") or "?"
    if (topic, column) in _DROPPED_BEFORE:
        return
    _DROPPED_BEFORE.add((topic, column))
    log.warning("%s: an update's before image was dropped and the change decoded from its after image alone "
                "(as under the default replica identity), because its column %s does not decode: %s. Said once "
                "per topic and column", topic or where, column, error.reason)


_SCHEMAS = SchemaCache()
_OPS: Mapping[Any, Op] = MappingProxyType({op.value: op for op in Op})
_IMAGES: Mapping[Op, str] = MappingProxyType({Op.CREATE: "after", Op.READ: "after", Op.UPDATE: "after",
                                              Op.DELETE: "before"})


class _NotCompiled(CodecError):
    """The compiled path does not take this record; :func:`_interpreted` decodes it (or says what is wrong)."""


def _parsed(data: bytes | str, hint: Any, schemas: SchemaCache) -> tuple[CompiledSchema, Any]:
    """A record's compiled schema and its parsed payload; the schema text is parsed only when new."""
    raw = data.encode() if isinstance(data, str) else data
    found = schemas.split(raw, hint)
    if found is not None:
        return found[0], orjson.loads(found[1])
    document = orjson.loads(raw)
    if type(document) is not dict or type(document.get("schema")) is not dict or "payload" not in document:
        raise _NotCompiled("not a schema and payload envelope")
    return schemas.learn(raw, document["schema"], hint), document["payload"]


def _compiled_key(data: bytes | str | None, topic: str | None, schemas: SchemaCache) -> Row | None:
    if data is None:
        return None
    compiled, payload = _parsed(data, ("key", topic), schemas)
    if payload is None:
        return None
    if compiled.schema.get("type") == "struct":
        return compiled.struct(payload)  # type: ignore[no-any-return]
    return MappingProxyType({"value": compiled.value(payload)})


def _compiled(value: bytes | str | None, key: bytes | str | None, topic: str | None, where: str,
              schemas: SchemaCache) -> Record:
    """:func:`decode` by compiled schemas; raises on anything :func:`_interpreted` must look at."""
    decoded_key = _compiled_key(key, topic, schemas)
    if value is None:
        return Tombstone(key=decoded_key, topic=topic)
    compiled, payload = _parsed(value, topic, schemas)
    if type(payload) is not dict:
        raise _NotCompiled("a payload that is not an object")
    if compiled.schema.get("name") == TRANSACTION_SCHEMA or ("status" in payload and "op" not in payload):
        return _transaction(compiled.schema, payload, topic, where)
    op = _OPS.get(payload.get("op"))
    fields = compiled.fields
    raw_source = payload.get("source")
    if op is None or fields is None or "source" not in fields or type(raw_source) is not dict:
        raise _NotCompiled("not a change event")
    source = Source.from_payload(fields["source"](raw_source), where)
    block = _block(payload, where)
    ts_ms = payload.get("ts_ms")
    if op is Op.MESSAGE:
        message = payload.get("message")
        if type(message) is not dict or "message" not in fields:
            raise _NotCompiled("a message event without its message")
        body = fields["message"](message)
        return MessageEvent(prefix=body.get("prefix"), content=body.get("content"), source=source,
                            transaction=block, ts_ms=ts_ms, key=decoded_key, topic=topic)
    before, after = payload.get("before"), payload.get("after")
    if before is not None:
        before = fields["before"](before)
    if after is not None:
        after = fields["after"](after)
    required = _IMAGES.get(op)
    if required is not None and (after if required == "after" else before) is None:
        raise _NotCompiled(f"an op {op.value!r} event without its {required!r} image")
    # Every field set at once, as Source.from_payload does (the frozen dataclass's __init__ sets them one
    # object.__setattr__ at a time); the values are __init__'s.
    made = object.__new__(ChangeEvent)
    made.__dict__.update(op=op, source=source, before=before, after=after, transaction=block, ts_ms=ts_ms,
                         key=decoded_key, topic=topic)
    return made
