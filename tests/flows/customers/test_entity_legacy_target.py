"""A web shop synced with a legacy ERP written by the ``sql`` adapter (a new user's trial), on a made-up pair: the
PostgreSQL shop ``kasse`` (times in UTC) and the MariaDB ERP ``lager`` (``KUNDEN``, ``GEAEND`` a ``DATETIME`` in
Europe/Berlin wall-clock time).

- The ERP payload's ``geaend`` is an Avro ``local-timestamp-micros`` filled by ``utc_to_local``: loaded without a
  word, then every change was dead-lettered (``geaend: expected a whole number, got datetime.datetime(2026, 9, 1,
  2, 2)``). It is a wall-clock time: sent as ISO text without an offset, written into the ``DATETIME`` column as
  it is, and the ERP's echo of it settles the write.
- ``writes`` listed ``rabatt`` while the ERP's payload mapping did not read it: commands named it changed with no
  value, the flow counted it sent, and ~760 discounts never reached the ERP. Such a flow file is refused at load.

Run through LocalRun with the real handler; the commands go through the SQL adapter's ``prepare``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings
from streams.sinks.adapters.sql import prepare
from streams.sinks.config.loader import load_target
from streams.sinks.outcomes import Failed
from streams.sinks.records import SinkCommand
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 9, 1, 0, 5, tzinfo=dt.UTC)
MICROS = {"type": "long", "logicalType": "timestamp-micros"}
LOCAL_MICROS = {"type": "long", "logicalType": "local-timestamp-micros"}
RABATT = {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}


def _field(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None, "doc": name}


SCHEMAS = {
    "kunde": {"type": "record", "name": "Kunde", "namespace": "isthmus.canonical", "doc": "A customer.", "fields": [
        {"name": "kundennummer", "type": "string", "doc": "Key."}, _field("kasse_id", "long"),
        _field("lager_id", "long"), _field("name", "string"), _field("rabatt", RABATT), _field("geaendert", MICROS),
        {"name": "provenance", "type": {"type": "map", "values": "FieldStamp"}, "default": {},
         "doc": "Per field: system and commit time."}]},
    "kunde_link": {"type": "record", "name": "KundeLink", "namespace": "isthmus.canonical", "doc": "Its ids.",
                   "fields": [{"name": "kundennummer", "type": "string", "doc": "Key."}, _field("kasse_id", "long"),
                              _field("lager_id", "long")]},
    "lager_kunde": {"type": "record", "name": "LagerKunde", "namespace": "isthmus.canonical", "doc": "KUNDEN.",
                    "fields": [{"name": "kdnr", "type": "string", "doc": "Key."}, _field("name", "string"),
                               _field("rabatt", RABATT), _field("geaend", LOCAL_MICROS)]},
}
RECORD = """\
description: A customer of the shop and the ERP.
target: isthmus.canonical.Kunde
key: kundennummer
owner: kasse
policy: owner_wins
fields:
  lager_id: {owner: lager, policy: owner_wins}
sources:
  kasse_kunde:
    system: kasse
    table: kunde
    fields:
      kundennummer: nummer
      kasse_id: id
      name: name
      rabatt: rabatt
      geaendert: {from: geaendert, transform: [local_to_utc]}
  lager_kunden:
    system: lager
    table: KUNDEN
    fields:
      kundennummer: KDNR
      lager_id: id
      name: NAME1
      rabatt: RABATT
      geaendert: {from: GEAEND, transform: [local_to_utc]}
"""
LINK = """\
description: The ids of a customer.
target: isthmus.canonical.KundeLink
key: kundennummer
fields:
  kasse_id: {owner: kasse, policy: owner_wins}
  lager_id: {owner: lager, policy: owner_wins}
sources:
  kasse_kunde:
    system: kasse
    table: kunde
    fields: {kundennummer: nummer, kasse_id: id}
    on_delete: {set: {kasse_id: null}}
  lager_kunden:
    system: lager
    table: KUNDEN
    fields: {kundennummer: KDNR, lager_id: id}
    on_delete: {set: {lager_id: null}}
"""
#: The ERP's payload: its change time in Berlin wall-clock time, as GEAEND keeps it.
PAYLOAD = """\
description: What the ERP's KUNDEN row gets.
target: isthmus.canonical.LagerKunde
key: kdnr
sources:
  kunde:
    record: isthmus.canonical.Kunde
    fields:
      kdnr: kundennummer
      name: name
      rabatt: rabatt
      geaend: {from: geaendert, transform: [{utc_to_local: {zone: Europe/Berlin}}]}
"""
FLOW = """\
name: test-kunden
block: entity
description: kasse customers -> lager KUNDEN
entity:
  record: kunde
  publish: test.canonical.kunden
  link: kunde_link
  origin: kasse
  systems:
    lager:
      id: lager_id
      payload: lager_kunde
      writes: [name, rabatt, geaendert]
"""
TARGET = """\
system: lager
adapter: sql
routes:
  - payload_type: LagerKunde
    operation: create
    table: KUNDEN
    key: [KDNR]
    columns: {KDNR: kdnr, NAME1: name, RABATT: rabatt, GEAEND: geaend}
"""
#: Column -> (SQL type, its arguments, Connect type, Connect name) of each table; the first is the key.
COLUMNS: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...], str, str | None]]] = {
    ("kasse", "kunde"): {"id": ("BIGINT", (), "int64", None), "nummer": ("TEXT", (), "string", None),
                         "name": ("TEXT", (), "string", None),
                         "rabatt": ("NUMERIC", ("5", "2"), "bytes", "org.apache.kafka.connect.data.Decimal"),
                         "geaendert": ("TIMESTAMP WITHOUT TIME ZONE", (), "int64", "io.debezium.time.MicroTimestamp")},
    ("lager", "KUNDEN"): {"id": ("BIGINT", (), "int64", None), "KDNR": ("VARCHAR", ("8",), "string", None),
                          "NAME1": ("VARCHAR", ("40",), "string", None),
                          "RABATT": ("DECIMAL", ("5", "2"), "bytes", "org.apache.kafka.connect.data.Decimal"),
                          "GEAEND": ("DATETIME", (), "int64", "io.debezium.time.Timestamp")},
}
ENGINES = {"kasse": Engine.POSTGRESQL, "lager": Engine.MARIADB}


def _systems() -> Systems:
    return Systems({"kasse": system("kasse", engine=Engine.POSTGRESQL, writable=True),
                    "lager": system("lager", engine=Engine.MARIADB, time_zone="Europe/Berlin", writable=True)},
                   directory=Path("systems"))


def _catalogs() -> dict[str, Catalog]:
    tables: dict[str, dict[str, Table]] = {}
    for (name, table), columns in COLUMNS.items():
        tables.setdefault(name, {})[table] = Table(
            name=table, primary_key=("id",), replica_identity="full" if ENGINES[name] is Engine.POSTGRESQL else None,
            columns={c: Column(name=c, sql_type=t, args=args, nullable=c not in ("id", "nummer", "KDNR"))
                     for c, (t, args, _, _) in columns.items()})
    return {name: Catalog(system=name, engine=ENGINES[name].value, namespace=name, tables=found)
            for name, found in tables.items()}


def _project(root: Path, payload: str = PAYLOAD) -> Path:
    """The trial's files under ``root``: schemas/, mappings/, flows/ and targets/ (``payload``: the ERP payload
    mapping's text)."""
    files = {"schemas": {f"{stem}.avsc": json.dumps(schema) for stem, schema in SCHEMAS.items()},
             "mappings": {"kunde.yaml": RECORD, "kunde_link.yaml": LINK, "lager_kunde.yaml": payload},
             "flows": {"kunden.yaml": FLOW}, "targets": {"lager.yaml": TARGET}}
    for folder, texts in files.items():
        (root / folder).mkdir()
        for name, text in texts.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    return root


class Kunden:
    """The flow under LocalRun, fed made-up Debezium changes of either system."""

    def __init__(self, root: Path, payload: str = PAYLOAD) -> None:
        self.root = _project(root, payload)
        self.schemas = SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(root / "schemas")}))
        self.systems = _systems()
        self.mappings = load_mappings(root / "mappings", schemas=self.schemas.schemas, tables=_catalogs(),
                                      systems=self.systems)
        (self.flow,) = load_flow_files(root / "flows")
        config = entity_config(self.flow, self.mappings, self.schemas.schemas.named, self.systems)
        self.run = LocalRun(CustomerFlow(mappings=self.mappings, schemas=self.schemas, systems=self.systems,
                                         config=config, clock=lambda: T0).spec())
        self.position = 1000

    def change(self, name: str, table: str, op: str, row: Mapping[str, Any], *, at: dt.datetime) -> list[Sent]:
        """Feed one change committed ``at``; returns the commands it caused."""
        self.position += 10
        key, value = change_record(
            name, table, op, columns={c: (t, n) for c, (_, _, t, n) in COLUMNS[(name, table)].items()}, key="id",
            engine=ENGINES[name], namespace=name, at=at, position=self.position, after=row,
            parameters={column: {"scale": "2"} for column in ("rabatt", "RABATT")})
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(self.systems[name].topic(table), key, value)]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def written(self, sent: Sent) -> Mapping[str, Any]:
        """The KUNDEN row the ``sql`` adapter writes for ``sent``."""
        config = load_target(self.root / "targets" / "lager.yaml", self.schemas.schemas, writable=["lager"])
        record = sent.record
        prepared = prepare(config, SinkCommand(
            command_id=record["command_id"], idempotency_key=record["idempotency_key"], target=record["target"],
            operation=record["operation"], entity_type=record["entity_type"], entity_key=record["entity_key"],
            payload_type=record["payload_type"], payload=sent.payload))
        assert not isinstance(prepared, Failed), prepared
        return prepared[1]


def _micros(wall: dt.datetime) -> int:
    """A zone-less time as Debezium sends it: counted as if it were UTC (microseconds)."""
    return int(wall.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)


@pytest.mark.parametrize(("utc", "berlin"), [
    (dt.datetime(2026, 9, 1, 0, 2), "2026-09-01T02:02:00"),  # summer time: UTC+2
    (dt.datetime(2026, 10, 25, 1, 30, 0, 250000), "2026-10-25T02:30:00.250000"),  # the repeated hour, second pass
], ids=["summer", "repeated_hour"])
def test_a_local_time_payload_field_is_sent_and_written_as_the_erps_wall_clock_time(
        tmp_path: Path, utc: dt.datetime, berlin: str) -> None:
    kunden = Kunden(tmp_path)
    (create,) = kunden.change("kasse", "kunde", "c", {"id": 1, "nummer": "4711", "name": "Muster GmbH",
                                                      "geaendert": _micros(utc)}, at=T0)
    assert create.route == ("LagerKunde", "create")
    assert create.payload == {"kdnr": "4711", "name": "Muster GmbH", "rabatt": None, "geaend": berlin}
    assert kunden.written(create) == {"KDNR": "4711", "NAME1": "Muster GmbH", "RABATT": None, "GEAEND": berlin}


def test_the_erps_echo_of_its_wall_clock_time_settles_the_write(tmp_path: Path) -> None:
    kunden = Kunden(tmp_path)
    kunden.change("kasse", "kunde", "c", {"id": 1, "nummer": "4711", "name": "Muster GmbH",
                                          "geaendert": _micros(dt.datetime(2026, 9, 1, 0, 2))}, at=T0)
    echo = {"id": 77, "KDNR": "4711", "NAME1": "Muster GmbH",
            "GEAEND": _micros(dt.datetime(2026, 9, 1, 2, 2)) // 1000}  # DATETIME: milliseconds, as if UTC
    assert kunden.change("lager", "KUNDEN", "c", echo, at=T0 + dt.timedelta(seconds=2)) == []


def test_a_written_field_the_payload_mapping_does_not_read_is_refused_at_load(tmp_path: Path) -> None:
    """The trial's ERP payload had no binding of the discount its `writes` listed."""
    with pytest.raises(FlowFileError) as raised:
        Kunden(tmp_path, PAYLOAD.replace("      rabatt: rabatt\n", ""))
    (problem,) = raised.value.problems
    flow = tmp_path / "flows" / "kunden.yaml"
    assert (problem.file, problem.field) == (flow, "entity.systems.lager.writes")
    assert problem.line == FLOW.splitlines().index("      writes: [name, rabatt, geaendert]") + 1
    assert problem.message == (
        "lists rabatt, but lager's payload mapping mappings/lager_kunde.yaml does not read it: its commands would "
        "name rabatt changed and carry no value of it, so lager would never get it while Isthmus counts it sent")
    assert problem.fix.startswith("bind it in mappings/lager_kunde.yaml (`<payload field>: rabatt` under "
                                  "sources.kunde.fields, and map that payload field to a column or body field in "
                                  "lager's target), or take it out of writes")
