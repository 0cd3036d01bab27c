"""The entity block on a made-up configuration that shares no table, column or system name with the reference
pair (tests/flows/customers/parties/): a ``hub`` whose ``party`` rows of kind org are born there, a ``ledger``
whose ``debtor`` rows it creates, people in a ``person_of_party`` table, and a read-only ``shop``. Run through
LocalRun with the real handler: create, update, link back, child fold, deactivate, no echo, and nothing
for the read-only system."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "parties"
PUBLISHED = "test.canonical.parties"
T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
#: Column -> (SQL type, Connect type) of each made-up table.
COLUMNS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("hub", "party"): {"party_id": ("BIGINT", "int64"), "code": ("TEXT", "string"), "kind": ("TEXT", "string"),
                       "display_name": ("TEXT", "string"), "mail": ("TEXT", "string"), "terms": ("TEXT", "string"),
                       "ledger_ref": ("BIGINT", "int64")},
    ("hub", "person_of_party"): {"person_id": ("BIGINT", "int64"), "org_id": ("BIGINT", "int64"),
                                 "given": ("TEXT", "string"), "family": ("TEXT", "string")},
    ("ledger", "debtor"): {"debtor_no": ("BIGINT", "int64"), "debtor_code": ("VARCHAR", "string"),
                           "party_code": ("VARCHAR", "string"), "title": ("VARCHAR", "string"),
                           "mail": ("VARCHAR", "string"), "terms": ("VARCHAR", "string"), "live": ("TINYINT", "int16")},
    ("shop", "buyer"): {"buyer_id": ("BIGINT", "int64"), "party_code": ("VARCHAR", "string"),
                        "tel": ("VARCHAR", "string")},
}
#: The columns that may hold NULL (the others are NOT NULL).
OPTIONAL = {("hub", "party"): {"mail", "terms", "ledger_ref"}, ("ledger", "debtor"): {"party_code", "mail", "terms"},
            ("hub", "person_of_party"): set(), ("shop", "buyer"): {"tel"}}
KEYS = {"party": "party_id", "person_of_party": "person_id", "debtor": "debtor_no", "buyer": "buyer_id"}
ENGINES = {"hub": Engine.POSTGRESQL, "ledger": Engine.MARIADB, "shop": Engine.MARIADB}


def _systems() -> Systems:
    return Systems({"hub": system("hub", prefix="hq", namespace="main", engine=Engine.POSTGRESQL, writable=True),
                    "ledger": system("ledger", prefix="books", writable=True),
                    "shop": system("shop")}, directory=HERE)


def _catalogs() -> dict[str, Catalog]:
    catalogs: dict[str, dict[str, Table]] = {}
    for (name, table), columns in COLUMNS.items():
        catalogs.setdefault(name, {})[table] = Table(
            name=table, primary_key=(KEYS[table],),
            replica_identity="full" if ENGINES[name].value == "postgresql" else None,
            columns={c: Column(name=c, sql_type=t, args=("1",) if t == "TINYINT" else (),
                               nullable=c in OPTIONAL[(name, table)]) for c, (t, _) in columns.items()})
    return {name: Catalog(system=name, engine=ENGINES[name].value, namespace=name, tables=tables)
            for name, tables in catalogs.items()}


@pytest.fixture(scope="module")
def parties(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems]:
    systems = _systems()
    return load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems), systems


@pytest.fixture(scope="module")
def config(parties: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> EntityConfig:
    mappings, systems = parties
    (flow,) = load_flow_files(HERE / "flows")
    return entity_config(flow, mappings, schemas.schemas.named, systems)


class Parties:
    """The flow under LocalRun and the made-up systems' change events."""

    def __init__(self, config: EntityConfig, mappings: dict[str, RecordMapping], systems: Systems,
                 schemas: SchemaStore) -> None:
        self.systems = systems
        self.schemas = schemas
        self.flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems, config=config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.now = T0
        self.position = 1000

    def change(self, name: str, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> list[Sent]:
        """Feed one change event; returns the commands it caused."""
        return self.feed(self.record(name, table, op, before=before, after=after))

    def record(self, name: str, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> tuple[str, bytes, bytes]:
        """One change event of ``name``'s ``table``, a second after the one before: its topic, key and value."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        columns = {c: (t, None) for c, (_, t) in COLUMNS[(name, table)].items()}
        key, value = change_record(name, table, op, columns=columns,
                                   key=KEYS[table], engine=ENGINES[name], namespace="main", at=self.now,
                                   position=self.position, before=before, after=after)
        return self.systems[name].topic(table), key, value

    def feed(self, *records: tuple[str, bytes | None, bytes | None]) -> list[Sent]:
        """Feed ``records`` in one batch; returns the commands they caused (none may be dead-lettered)."""
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(topic, key, value) for topic, key, value in records]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def published(self) -> Mapping[str, Any]:
        return decode_topic(self.run.context.emitted, PUBLISHED, self.schemas)[-1]


def _party(**values: Any) -> dict[str, Any]:
    return {"party_id": 10, "code": "P-000001", "kind": "org", "display_name": "Acme", "mail": "a@acme.test",
            **values}


def _debtor(**values: Any) -> dict[str, Any]:
    return {"debtor_no": 500, "debtor_code": "D-000001", "party_code": "P-000001", "title": "Acme",
            "mail": "a@acme.test", "terms": "NET30", "live": 1, **values}


def test_the_section_reads_the_made_up_roles(config: EntityConfig) -> None:
    assert set(config.reads) == {("hub", "party"), ("hub", "person_of_party"), ("ledger", "debtor"),
                                 ("shop", "buyer")}
    assert config.reads[("hub", "person_of_party")].remember and not config.reads[("hub", "party")].remember
    assert list(config.written) == ["ledger", "hub"]  # shop is read-only in its system file
    assert config.written["hub"].link_back == ("erp_account_id",) and config.indexed == ("crm_customer_id",)
    assert config.defaults == {"blocked": False, "active": True} and config.required == ("name",)


def test_create_link_back_update_child_fold_delete_and_no_echo(
        config: EntityConfig, parties: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> None:
    mappings, systems = parties
    run = Parties(config, mappings, systems, schemas)
    # a person whose party is not known yet waits, then is folded into the party's list
    assert run.change("hub", "person_of_party", "c", after={"person_id": 7, "org_id": 10, "given": "Li",
                                                            "family": "Wei"}) == []
    (create,) = run.change("hub", "party", "c", after=_party())
    assert (create.topic, create.route) == ("isthmus.commands.ledger", ("Account", "create"))
    assert create.payload["account_code"] == "D-000001" and create.payload["name"] == "Acme"
    assert [c["first_name"] for c in run.published()["contacts"]] == ["Li"]
    # the debtor shows up: the hub gets the link and the ledger-owned terms; the ledger gets nothing (echo)
    link, terms = run.change("ledger", "debtor", "c", after=_debtor())
    assert (link.topic, link.route, link.changed) == ("isthmus.commands.hub", ("CustomerAccountXref", "update"),
                                                      ("erp_account_id",))
    assert link.payload["erp_account_id"] == 500 and link.payload["crm_customer_id"] == 10
    assert link.payload["linked_at"] is not None
    assert (terms.route, terms.changed, terms.payload["payment_terms"]) == (("Customer", "update"),
                                                                            ("payment_terms",), "NET30")
    # the hub stores both: its echo causes nothing
    assert run.change("hub", "party", "u", before=_party(), after=_party(ledger_ref=500, terms="NET30")) == []
    # an edit in the hub goes to the ledger, only the changed field
    (update,) = run.change("hub", "party", "u", before=_party(ledger_ref=500, terms="NET30"),
                           after=_party(ledger_ref=500, terms="NET30", display_name="Acme Ltd"))
    assert (update.route, update.changed, update.payload["name"]) == (("Account", "update"), ("name",), "Acme Ltd")
    assert run.change("ledger", "debtor", "u", before=_debtor(), after=_debtor(title="Acme Ltd")) == []
    # the read-only shop's phone is reconciled and published, and no command goes to the shop
    assert run.change("shop", "buyer", "c", after={"buyer_id": 3, "party_code": "P-000001", "tel": "+1 555"}) == []
    assert run.published()["phone"] == "+1 555"
    # a key-only delete of the person takes it off the list (the flow remembered its row)
    run.change("hub", "person_of_party", "d", before={"person_id": 7, "org_id": 0, "given": "", "family": ""})
    assert run.published()["contacts"] == []
    # the party goes: the ledger gets the section's on_inactive (deactivate)
    (delete,) = run.change("hub", "party", "d", before=_party(ledger_ref=500, terms="NET30", display_name="Acme Ltd"))
    assert (delete.topic, delete.route, delete.changed) == ("isthmus.commands.ledger", ("Account", "deactivate"),
                                                            ("active",))
    assert not any(s.topic.endswith(".shop") for s in decode_commands(run.run.context.emitted, schemas))
