"""An entity flow over made-up systems (a new user's trial: tests/flows/customers/debtors/, vendors/), run through
LocalRun with the real handler: each change made up by :func:`support.envelopes.change_record`, one source
transaction a second after the one before; :meth:`MadeUpRun.feed` gives the commands the changes caused."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.engine.local import DeadLettered, LocalRun
from streams.flows.files import load_flow_files
from streams.flows.topics import AUDIT_CONFLICTS, DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

DECIMAL = "org.apache.kafka.connect.data.Decimal"


@dataclass(frozen=True)
class MadeUpTable:
    """One table of a made-up system: column -> (SQL type, Connect type), its primary key, where it lives, and the
    scale of each DECIMAL/NUMERIC column (its values given as :class:`~decimal.Decimal`, sent as Debezium's
    ``precise`` decimals), and the Connect schema name of a column that has one (a time's:
    ``io.debezium.time.MicroTimestamp``, its values given as Debezium sends them)."""

    system: str
    columns: Mapping[str, tuple[str, str]]
    key: tuple[str, ...]
    engine: Engine
    namespace: str
    decimals: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def image(self, row: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """``row`` as Debezium writes it: a decimal as its unscaled integer's bytes in base64, at its column's
        scale."""
        if row is None or not self.decimals:
            return row
        return {c: _precise(v, self.decimals[c]) if c in self.decimals and v is not None else v
                for c, v in row.items()}


def made_up_flow(schemas: SchemaStore, folder: Path, tables: Mapping[str, MadeUpTable], *,
                 required: Collection[str] = (), time_zones: Mapping[str, str] | None = None,
                 ) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    """The mappings and the entity section of the one flow file in ``folder`` (its ``mappings/`` and ``flows/``),
    over writable made-up systems with ``tables`` (by name) as ``isthmus mappings discover`` would have recorded
    them: PostgreSQL's with REPLICA IDENTITY FULL, every column nullable but the key's and ``required``; each
    system's local times in its zone of ``time_zones`` (default UTC)."""
    engines = {made.system: made.engine for made in tables.values()}
    zones = time_zones or {}
    systems = Systems({name: system(name, engine=engine, writable=True, time_zone=zones.get(name, "UTC"))
                       for name, engine in engines.items()}, directory=folder)
    catalogs = {name: Catalog(system=name, engine=engine.value, namespace=name, tables={
        table: Table(name=table, primary_key=made.key,
                     replica_identity="full" if engine is Engine.POSTGRESQL else None,
                     columns={c: Column(name=c, sql_type=t, nullable=c not in made.key and c not in required)
                              for c, (t, _) in made.columns.items()})
        for table, made in tables.items() if made.system == name}) for name, engine in engines.items()}
    mappings = load_mappings(folder / "mappings", schemas=schemas.schemas, tables=catalogs, systems=systems)
    (flow,) = load_flow_files(folder / "flows")
    return mappings, systems, entity_config(flow, mappings, schemas.schemas.named, systems)


def _precise(value: Decimal, scale: int) -> str:
    unscaled = int(value.scaleb(scale))
    return base64.b64encode(unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)).decode()


class MadeUpRun:
    """``flow`` under LocalRun, its tables as :meth:`table` describes them, its record published on ``published_to``
    (keyed by its ``customer_number``)."""

    def __init__(self, schemas: SchemaStore, systems: Systems, flow: CustomerFlow, *, start: dt.datetime,
                 published_to: str, tables: Mapping[str, MadeUpTable] | None = None) -> None:
        self.schemas, self.systems, self.flow = schemas, systems, flow
        self.tables = tables or {}
        self.run = LocalRun(flow.spec())
        self.now = start
        self.position = 1000
        self.published_to = published_to

    def table(self, name: str) -> MadeUpTable:
        return self.tables[name]

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters

    def change(self, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> tuple[str, bytes, bytes]:
        """One committed change of ``table`` (its own source transaction), a second after the one before."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        made = self.table(table)
        columns = {c: (t, DECIMAL if c in made.decimals else made.names.get(c)) for c, (_, t) in made.columns.items()}
        key, value = change_record(made.system, table, op, columns=columns, key=made.key, engine=made.engine,
                                   namespace=made.namespace, at=self.now, position=self.position,
                                   before=made.image(before), after=made.image(after),
                                   parameters={c: {"scale": str(scale)} for c, scale in made.decimals.items()})
        return self.systems[made.system].topic(table), key, value

    def feed(self, *changes: tuple[str, bytes, bytes]) -> list[Sent]:
        """Process ``changes`` in one batch; returns the commands they caused."""
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(topic, key, value) for topic, key, value in changes]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def dead_letter(self, sent: Sent, reason: str) -> None:
        """The sink's dead letter of ``sent`` (the target refused it for good), fed to the flow."""
        (emitted,) = [e for e in self.run.context.emitted if e.topic == sent.topic and e.value is not None
                      and self.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
        original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                            value=emitted.value, headers=(("isthmus.command_id", sent.record["command_id"].encode()),))
        letter = dead_letter_value(original, reason=reason, error_type="TargetRefused",
                                   stage=f"sink.{sent.record['target']}", attempts=1, worker="w1", failed_at=self.now)
        value = self.schemas.encode(DEAD_LETTER_TYPE, letter)
        asyncio.run(self.run.feed([self.run.record(DLQ_TOPIC, emitted.key, value)]))

    def conflicts(self) -> list[dict[str, Any]]:
        """The conflict records the flow audited so far."""
        return [dict(c) for c in decode_topic(self.run.context.emitted, AUDIT_CONFLICTS, self.schemas)]

    def published(self, key: str) -> Mapping[str, Any]:
        """The last canonical record of ``key``."""
        return [r for r in decode_topic(self.run.context.emitted, self.published_to, self.schemas)
                if r["customer_number"] == key][-1]
