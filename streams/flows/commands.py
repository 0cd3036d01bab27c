"""Command records for the sinks, with idempotency keys derived from the change that caused them.

A command's idempotency key is a function of its target system, its kind (payload type and operation, plus
an optional ``part`` when one change causes several commands of one kind for one entity), its entity and the
source change that caused it (connector, log position, table and row key). Re-processing the same change
after a crash therefore produces the same key, and the sink applies the command once. The command id is
derived from the key too, so a re-produced command is recognisable as the same one.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent
from streams.errors import IsthmusError
from streams.flows.engine.api import Context, Incoming
from streams.sinks.topics import COMMAND_ID_HEADER, command_topic, system_name

if TYPE_CHECKING:
    from streams.systems import Systems


class NotWritable(IsthmusError):
    """A command for a system that takes none (undeclared, or ``writable: false`` in its systems file)."""


class PayloadNotJson(IsthmusError):
    """A command's payload holds a value its JSON form cannot take; the message names the field path, the
    entity and the fix."""

COMMAND_SCHEMA = "isthmus.canonical.Command"
_NAMESPACE = "isthmus.canonical."
_ID_NAMESPACE = uuid.UUID("6f0c6d8e-3b0e-5d47-9a53-6b1f2b5e7c11")
_ID_NAMESPACE_BYTES = _ID_NAMESPACE.bytes


@dataclass(frozen=True, kw_only=True)
class Cause:
    """The source change a command answers: where it was committed and which row it touched."""

    system: str
    connector: str
    database: str
    table: str
    row_key: str
    commit_time: dt.datetime
    schema: str | None = None
    transaction_id: str | None = None
    lsn: int | None = None
    binlog_file: str | None = None
    binlog_pos: int | None = None
    binlog_row: int | None = None
    gtid: str | None = None
    snapshot: bool = False
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def of(cls, event: ChangeEvent, system: str, record: Incoming | None = None) -> Cause:
        source = event.source
        row = event.key
        if not row:
            key = "-"
        elif len(row) == 1:  # a one-column key (most): no sort, no join
            (column, value), = row.items()
            key = f"{column}={value}"
        else:
            key = ",".join(f"{k}={row[k]}" for k in sorted(row))
        # Every field set at once, as Source.from_payload does: the frozen dataclass's __init__ sets its 17 fields
        # one object.__setattr__ at a time, for every change a flow folds (issue 17); the values are __init__'s.
        made = object.__new__(cls)
        made.__dict__.update(
            system=system, connector=source.name, database=source.db, table=source.table or "-", row_key=key,
            commit_time=source.commit_time, schema=source.schema,
            transaction_id=event.transaction.id if event.transaction else None, lsn=source.lsn,
            binlog_file=source.file, binlog_pos=source.pos, binlog_row=source.row, gtid=source.gtid,
            snapshot=source.is_snapshot, topic=record.topic if record else event.topic,
            partition=record.partition if record else None, offset=record.offset if record else None)
        return made

    @property
    def position(self) -> str:
        """The change's log position: unique per row change (a MariaDB GTID is not: it names a transaction)."""
        if self.lsn is not None:
            return f"lsn={self.lsn}"
        if self.binlog_file is not None:
            return f"{self.binlog_file}:{self.binlog_pos}#{self.binlog_row}"
        return f"t={int(self.commit_time.timestamp() * 1_000_000)}"

    @property
    def event_id(self) -> str:
        """``<connector>:<log position>:<table>:<row key>``: equal for every re-read of the same change."""
        return f"{self.connector}:{self.position}:{self.table}:{self.row_key}"

    def source_position(self) -> dict[str, Any]:
        """The Avro ``SourcePosition`` of the change."""
        return {
            "system": self.system, "connector": self.connector, "database": self.database, "schema": self.schema,
            "table": self.table, "commit_time": self.commit_time, "transaction_id": self.transaction_id,
            "lsn": self.lsn, "binlog_file": self.binlog_file, "binlog_pos": self.binlog_pos,
            "binlog_row": self.binlog_row, "gtid": self.gtid, "snapshot": self.snapshot, "topic": self.topic,
            "partition": self.partition, "offset": self.offset,
        }


#: The JSON-native leaves of a payload: what :func:`unwritable_fields` never reports.
_JSON_LEAVES = (str, int, float, bool, type(None))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # plain notation: str() writes 1E-7 and 0E-7, which many APIs refuse
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        # Base64 text, as Kafka Connect's JsonConverter writes a bytes field (a BYTEA column).
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):  # orjson writes it so itself; the standard library's way must too
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def unwritable_fields(value: Any, path: str = "") -> list[str]:
    """The dotted paths (``lines.0.photo``) of the values inside ``value`` that :func:`payload_json` cannot
    write, each with its type: ``lines.0.photo (Foo)``. Only walked once a payload was refused."""
    if isinstance(value, _JSON_LEAVES):
        return []
    if isinstance(value, Mapping):
        found = []
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, _JSON_LEAVES):
                found.append(f"{where} (a key of type {type(key).__name__})")
            found += unwritable_fields(item, where)
        return found
    if isinstance(value, (list, tuple, set, frozenset)):
        return [found for i, item in enumerate(value) for found in unwritable_fields(item, f"{path}.{i}")]
    try:
        _json_default(value)
    except TypeError:
        return [f"{path or '(the payload)'} ({type(value).__name__})"]
    return []


#: orjson's options for :func:`payload_json`: sorted keys, and times left to :func:`_json_default` (UTC, as the
#: standard library's form the sinks have always read).
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def payload_json(payload: Mapping[str, Any], *, of: str = "a command") -> str:
    """A payload record as the sinks read it: JSON, decimals as text in plain notation, times as ISO 8601 UTC,
    bytes as base64 text (Kafka Connect's JSON form of a bytes field). ``of`` names whose payload it is in the error
    (:class:`PayloadNotJson`, naming each field path) raised for a value neither JSON writer takes.

    orjson writes it at a fraction of the cost of ``json.dumps(sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))``, which wrote it before: the same text, except that a float below 1e-4 is written
    without an exponent (``0.00001``, the same number) and a float that is not finite as ``null`` (the standard
    library wrote ``NaN``, which no JSON reader but Python's takes). What orjson refuses (an integer beyond 64
    bits, a key that is not text) goes the standard library's way, as before."""
    try:
        return orjson.dumps(payload if type(payload) is dict else dict(payload), default=_json_default,
                            option=_ORJSON_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return json.dumps(dict(payload), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=_json_default)
    except (TypeError, ValueError) as exc:
        fields = unwritable_fields(payload) or [f"(the payload: {exc})"]
        raise PayloadNotJson(
            f"the payload of {of} holds a value JSON cannot take at {', '.join(fields)}; the sinks read payloads "
            "as JSON (text, numbers, true/false, null, lists, objects; decimals, times, bytes and UUIDs are written "
            "as text). Fix: convert the field in the mapping (a transform or an expression giving text or a "
            "number), or leave it out of what the role writes") from exc


def command_uuid(idempotency_key: str) -> str:
    """``str(uuid.uuid5(_ID_NAMESPACE, idempotency_key))`` without building ``UUID`` objects (a third of its cost):
    the name-based SHA-1 UUID of RFC 4122, section 4.3."""
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + idempotency_key.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def idempotency_key(*, target: str, kind: str, entity_key: str, cause_id: str) -> str:
    """``<target>.<kind>.<digest>``: deterministic, under 100 characters (the ERP keeps up to 200)."""
    digest = hashlib.sha256("|".join((target, kind, entity_key, cause_id)).encode()).hexdigest()[:40]
    return f"{target}.{kind}.{digest}"


@dataclass(frozen=True, kw_only=True)
class Sends:
    """A kind of command a flow can send: to system ``target``, a ``payload_type`` (full canonical name, as its
    commands carry it) with ``operation``. A built-in flow declares every kind its configuration lets it send
    (:attr:`~streams.flows.engine.api.FlowSpec.sends`), derived from the configuration its handler decides with, so
    that ``isthmus mappings validate`` finds a kind no route of the target file applies before any is sent.
    ``at``: the keys of the flow file's block section that make the flow send it (``("systems", "hr")``), for the
    line; ``why``: the same in words (``the link back of erp_account_id``); ``carries``: the payload's top-level
    fields such commands can hold (rather more than fewer: a field outside it is never sent), so that a route
    reading one they never carry (a SQL route's ``children``) is found too; None where the flow does not say;
    ``kept``: the record whose state the flow keeps and writes with it (its full canonical name; none for another
    flow's record it only updates a field of, the party's balance), so that two flows keeping one record are
    refused at load (:mod:`streams.flows.shared`). ``unlinked``: the payload fields that carry the target's own id
    of the record, which such a command can hold null (decided while the target's row of an entity the flow creates
    there is not seen yet), so that a route addressed by one of them without a lookup is warned of
    (:func:`streams.flows.routes.unlinked_routes`). ``clears``: the payload fields such a command can name changed
    while they hold null (a field cleared in the source), so that a route that cannot send their null is found at
    load (:func:`streams.flows.routes.unsent_clears`) rather than by a dead letter (``NullNotSent``) per clearing."""

    target: str
    payload_type: str
    operation: str
    at: tuple[str, ...] = ()
    why: str = ""
    carries: frozenset[str] | None = None
    kept: str = ""
    unlinked: frozenset[str] = frozenset()
    clears: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Command:
    """A write for one system's sink. ``entity_type`` and ``payload_type`` are full canonical names
    (``isthmus.canonical.Account``): the sinks route on them."""

    target: str
    operation: str
    entity_type: str
    entity_key: str
    payload_type: str
    payload: Mapping[str, Any]
    cause: Cause
    changed_fields: tuple[str, ...] = ()
    part: str = ""
    parent_command_id: str | None = None
    correlation_id: str | None = None
    #: The flow reads a refusal of this command from the sink's results topic (a document flow's create and update
    #: of its document); else the sink dead-letters a refusal, which every flow sees (``isthmus.dlq``).
    reads_refusals: bool = False

    def __post_init__(self) -> None:
        for name in ("entity_type", "payload_type"):
            namespace, _, short = getattr(self, name).rpartition(".")
            if not namespace or not short:  # a record of one's own (ISTHMUS_SCHEMAS_DIR) has a namespace of its own
                raise ValueError(f"Command.{name} {getattr(self, name)!r} must be a full canonical name (namespace "
                                 f"and name), e.g. {_NAMESPACE}Account")
        system_name(self.target)

    @property
    def kind(self) -> str:
        short = self.payload_type.rpartition(".")[2]
        return f"{short}.{self.operation}" + (f".{self.part}" if self.part else "")

    # Cached: both are read several times per command (record, headers, logs), and their SHA-256 and uuid5 were
    # 10 % of the customer flow's time in a profile of the latency benchmark.
    @functools.cached_property
    def idempotency_key(self) -> str:
        return idempotency_key(target=self.target, kind=self.kind, entity_key=self.entity_key,
                               cause_id=self.cause.event_id)

    @functools.cached_property
    def command_id(self) -> str:
        return command_uuid(self.idempotency_key)

    @property
    def topic(self) -> str:
        return command_topic(self.target)

    def describe(self) -> str:
        """``the feldservice Auftrag.update command for entity T-1`` (errors, logs)."""
        return f"the {self.target} {self.kind} command for entity {self.entity_key}"

    def to_avro(self, *, created_at: dt.datetime | None = None) -> dict[str, Any]:
        """The Avro ``Command`` record."""
        return {
            "command_id": self.command_id,
            "idempotency_key": self.idempotency_key,
            "target": self.target,
            "operation": self.operation,
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "payload_type": self.payload_type,
            "payload": payload_json(self.payload, of=self.describe()),
            "changed_fields": list(self.changed_fields),
            "source": self.cause.source_position(),
            "causation": {"event_id": self.cause.event_id, "parent_command_id": self.parent_command_id,
                          "correlation_id": self.correlation_id},
            "created_at": created_at or dt.datetime.now(dt.UTC),
            "reads_refusals": self.reads_refusals,
        }


def check_writable(command: Command, systems: Systems) -> None:
    """Refuse ``command`` unless its target is a declared system that takes commands: a read-only system gets
    none, whatever a flow decided."""
    spec = systems.get(command.target)
    if spec is None or not spec.writable:
        why = "is not declared" if spec is None else f"is read-only ({spec.path}: writable is not true)"
        raise NotWritable(f"a {command.payload_type.rpartition('.')[2]} {command.operation} command for "
                          f"{command.entity_key} targets {command.target!r}, which {why}; only "
                          f"{', '.join(systems.writable) or 'no system'} take commands. Fix the flow's target, or "
                          "declare the system writable with a target")


def encode_command(schemas: SchemaStore, command: Command, *, systems: Systems,
                   created_at: dt.datetime | None = None) -> bytes:
    """The Avro single-object bytes of ``command``; raises :class:`NotWritable` when its target takes no
    commands (``systems``: the declared systems), and :class:`~streams.codecs.exceptions.SchemaMismatch` when
    its payload does not fit its payload record's schema. The payload goes as JSON text, which takes a decimal
    beyond its field's precision, so it is checked where Avro would refuse it (``SchemaStore.check_json``): the
    flow dead-letters the change as it does one whose canonical record does not encode, and the target never
    gets the value."""
    check_writable(command, systems)
    schemas.check_json(command.payload_type, command.payload, what=f"the payload of {command.describe()}")
    return schemas.encode(COMMAND_SCHEMA, command.to_avro(created_at=created_at))


def command_headers(command: Command) -> dict[str, bytes]:
    """Headers of a command record: its id, so a reader can follow it to its result without decoding."""
    return {COMMAND_ID_HEADER: command.command_id.encode()}


def emit_command(ctx: Context, schemas: SchemaStore, command: Command, *, systems: Systems,
                 created_at: dt.datetime | None = None) -> None:
    """Produce ``command`` to its target's command topic, keyed by entity key (per-entity order); raises
    :class:`NotWritable` (and emits nothing) when its target takes no commands."""
    value = encode_command(schemas, command, systems=systems, created_at=created_at)
    ctx.emit(command.topic, key=command.entity_key, value=value, headers=command_headers(command))
