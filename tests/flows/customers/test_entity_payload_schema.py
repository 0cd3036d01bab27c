"""A command's payload is checked against its payload record's schema (a new user's trial): ``register_account.avsc``
declares ``kreditlimit`` a ``decimal(12,2)``, the payload mapping rounds the customer's ``decimal(18,6)`` credit
limit half-even to scale 2, and ``123456789012.345678`` became ``"kreditlimit": "123456789012.35"``: 14 digits in a
precision-12 field, sent as JSON, which a lenient target stores. The canonical record holds the value (its field
is wider), so only the payload's schema refuses it.

Now the change is dead-lettered by the flow as one whose canonical record does not encode: the reason names the
field, the value, the schema's file, its precision and the fix; no command is sent, and the entity's next change
that fits goes through. Run through LocalRun with the real handler, on made-up ``vertrieb`` and ``api`` systems
and schemas of the test's own."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import DeadLettered
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
PUBLISHED = "test.canonical.kunden"


def _decimal(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


SCHEMAS = {
    "kunde": {
        "type": "record", "name": "Kunde", "namespace": "isthmus.canonical", "doc": "A customer.",
        "fields": [
            {"name": "kundennummer", "type": "string", "doc": "Key."},
            {"name": "kunde_id", "type": ["null", "long"], "default": None, "doc": "vertrieb id."},
            {"name": "konto_id", "type": ["null", "long"], "default": None, "doc": "api id."},
            {"name": "name", "type": "string", "default": "", "doc": "Name."},
            {"name": "kreditlimit", "type": ["null", _decimal(18, 6)], "default": None, "doc": "Credit limit."},
            {"name": "active", "type": "boolean", "default": True, "doc": "Live."},
            {"name": "provenance", "type": {"type": "map", "values": "FieldStamp"}, "default": {},
             "doc": "Per field: system and commit time."}]},
    "kunde_link": {
        "type": "record", "name": "KundeLink", "namespace": "isthmus.canonical", "doc": "Ids of a customer.",
        "fields": [
            {"name": "kundennummer", "type": "string", "doc": "Key."},
            {"name": "kunde_id", "type": ["null", "long"], "default": None, "doc": "vertrieb id."},
            {"name": "konto_id", "type": ["null", "long"], "default": None, "doc": "api id."}]},
    "register_account": {
        "type": "record", "name": "RegisterAccount", "namespace": "isthmus.canonical", "doc": "What api takes.",
        "fields": [
            {"name": "kundennummer", "type": "string", "doc": "Key."},
            {"name": "konto_id", "type": ["null", "long"], "default": None, "doc": "api id."},
            {"name": "name", "type": "string", "default": "", "doc": "Name."},
            {"name": "kreditlimit", "type": ["null", _decimal(12, 2)], "default": None, "doc": "Credit limit."}]},
}

MAPPINGS = {
    "kunde": """\
description: A customer.
target: isthmus.canonical.Kunde
key: kundennummer
owner: vertrieb
policy: owner_wins
fields:
  konto_id: {owner: api, policy: owner_wins}
sources:
  vertrieb_kunde:
    system: vertrieb
    table: kunde
    fields: {kundennummer: nummer, kunde_id: id, name: name, kreditlimit: kreditlimit}
    on_delete: {set: {active: false}}
  api_konto:
    system: api
    table: konto
    fields: {kundennummer: kunde_ref, konto_id: id, name: name, kreditlimit: kreditlimit}
""",
    "kunde_link": """\
description: The ids of a customer.
target: isthmus.canonical.KundeLink
key: kundennummer
fields:
  kunde_id: {owner: vertrieb, policy: owner_wins}
  konto_id: {owner: api, policy: owner_wins}
sources:
  vertrieb_kunde:
    system: vertrieb
    table: kunde
    fields: {kundennummer: nummer, kunde_id: id}
    on_delete: {set: {kunde_id: null}}
  api_konto:
    system: api
    table: konto
    fields: {kundennummer: kunde_ref, konto_id: id}
    on_delete: {set: {konto_id: null}}
""",
    "register_account": """\
description: What api takes.
target: isthmus.canonical.RegisterAccount
key: kundennummer
sources:
  kunde:
    record: isthmus.canonical.Kunde
    fields:
      kundennummer: kundennummer
      konto_id: konto_id
      name: name
      kreditlimit: {from: kreditlimit, transform: [{decimal: {scale: 2, rounding: half_even}}]}
""",
}
FLOW = """\
name: test-kunden
block: entity
description: vertrieb customers -> api accounts
entity:
  record: kunde
  publish: test.canonical.kunden
  link: kunde_link
  origin: vertrieb
  active: active
  systems:
    api:
      id: konto_id
      payload: register_account
      writes: [name, kreditlimit]
"""
#: Column -> (SQL type, its arguments, Connect type, Connect name) of each made-up table; the first is the key.
COLUMNS: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...], str, str | None]]] = {
    ("vertrieb", "kunde"): {"id": ("BIGINT", (), "int64", None), "nummer": ("TEXT", (), "string", None),
                            "name": ("TEXT", (), "string", None),
                            "kreditlimit": ("NUMERIC", ("18", "6"), "bytes", "org.apache.kafka.connect.data.Decimal")},
    ("api", "konto"): {"id": ("BIGINT", (), "int64", None), "kunde_ref": ("TEXT", (), "string", None),
                       "name": ("TEXT", (), "string", None),
                       "kreditlimit": ("NUMERIC", ("12", "2"), "bytes", "org.apache.kafka.connect.data.Decimal")},
}


def _systems() -> Systems:
    return Systems({"vertrieb": system("vertrieb", engine=Engine.POSTGRESQL, writable=True),
                    "api": system("api", engine=Engine.POSTGRESQL, writable=True)}, directory=Path("systems"))


def _catalogs() -> dict[str, Catalog]:
    tables: dict[str, dict[str, Table]] = {}
    for (name, table), columns in COLUMNS.items():
        tables.setdefault(name, {})[table] = Table(
            name=table, primary_key=("id",), replica_identity="full",
            columns={c: Column(name=c, sql_type=t, args=args, nullable=c == "kreditlimit")
                     for c, (t, args, _, _) in columns.items()})
    return {name: Catalog(system=name, engine="postgresql", namespace=name, tables=found)
            for name, found in tables.items()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kunden-schemas")
    for stem, schema in SCHEMAS.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return folder


class Kunden:
    """The flow under LocalRun, fed made-up Debezium changes of ``vertrieb``."""

    def __init__(self, project: Path, folder: Path) -> None:
        for sub, files in {"mappings": MAPPINGS, "flows": {"kunden": FLOW}}.items():
            (project / sub).mkdir()
            for stem, text in files.items():
                (project / sub / f"{stem}.yaml").write_text(text, encoding="utf-8")
        self.schemas = SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))
        self.systems = _systems()
        mappings = load_mappings(project / "mappings", schemas=self.schemas.schemas, tables=_catalogs(),
                                 systems=self.systems)
        (flow,) = load_flow_files(project / "flows")
        config = entity_config(flow, mappings, self.schemas.schemas.named, self.systems)
        self.run = LocalRun(CustomerFlow(mappings=mappings, schemas=self.schemas, systems=self.systems, config=config,
                                         clock=lambda: T0).spec())
        self.now = T0
        self.position = 1000

    def customer(self, op: str, kreditlimit: str, *, before: Mapping[str, Any] | None = None) -> list[Sent]:
        """Feed a change of customer K-1 whose credit limit becomes ``kreditlimit`` (NUMERIC(18,6), as Debezium
        writes it: the unscaled integer's bytes in base64); returns the commands it caused."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        unscaled = int(Decimal(kreditlimit).scaleb(6))
        row = {"id": 10, "nummer": "K-1", "name": "Muster GmbH", "kreditlimit": base64.b64encode(
            unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)).decode()}
        key, value = change_record(
            "vertrieb", "kunde", op, columns={c: (t, n) for c, (_, _, t, n) in COLUMNS[("vertrieb", "kunde")].items()},
            key="id", engine=Engine.POSTGRESQL, namespace="vertrieb", at=self.now, position=self.position,
            before=before, after=row, parameters={"kreditlimit": {"scale": "6", "connect.decimal.precision": "18"}})
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(self.systems["vertrieb"].topic("kunde"), key, value)]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters


def test_a_credit_limit_that_fits_the_payload_schema_is_sent_rounded(tmp_path: Path, folder: Path) -> None:
    run = Kunden(tmp_path, folder)
    (create,) = run.customer("c", "1234.565")
    assert create.route == ("RegisterAccount", "create") and create.payload["kreditlimit"] == "1234.56"
    assert run.dead_letters == []


def test_a_credit_limit_beyond_the_payload_schemas_precision_is_dead_lettered_not_sent(
        tmp_path: Path, folder: Path) -> None:
    run = Kunden(tmp_path, folder)
    assert run.customer("c", "123456789012.345678") == [], "no command carries 123456789012.35 to the target"
    (letter,) = run.dead_letters
    assert letter.stage == "flow.test-kunden" and letter.record.topic == "vertrieb.vertrieb.kunde"
    assert "cannot decide on this change: the payload of the api RegisterAccount.create command for entity K-1 " \
           "does not fit isthmus.canonical.RegisterAccount: field kreditlimit = 123456789012.35: 123456789012.35 has " \
           "14 digits (12 before the point, 2 after), the field is a decimal of precision 12 and scale 2: at most " \
           "12 digits, 10 before the point; fix: round or limit the value in the mapping that fills kreditlimit" \
           in letter.reason
    assert f"widen the field's precision and scale in isthmus.canonical.RegisterAccount's schema, " \
           f"{folder / 'register_account.avsc'}" in letter.reason
    assert decode_topic(run.run.context.emitted, PUBLISHED, run.schemas) == [], "the change is undone whole"
    # the customer's next change that fits is a change of a row whose last change was dead-lettered: it goes out
    (create,) = run.customer("u", "9999999999.994999", before={"id": 10})
    assert create.route == ("RegisterAccount", "create") and create.payload["kreditlimit"] == "9999999999.99"
    assert decode_topic(run.run.context.emitted, PUBLISHED, run.schemas)[-1]["kreditlimit"] == \
        Decimal("9999999999.994999")
    assert len(run.dead_letters) == 1
