"""What a row Isthmus created shows of a field it did not send is no edit made there (a new user's trial: 464
invoice e-mails deleted in the system of record).

On a made-up pair (tests/flows/customers/vendors/): a ``buying`` vendor is created in ``paying`` before its invoice
e-mail (a ``vendor_mail`` row of its own) reached the flow, dead-lettered first and replayed later, or just late.
The supplier's row comes back with the e-mail null (or ``paying``'s own default), committed after the e-mail was in
``buying``. Claimed as ``paying``'s edit, that null won the e-mail under ``latest_commit_wins`` (and under
``owner_wins`` for an owner ``paying``), and ``buying`` was told to clear its e-mail. The e-mail arriving late must
win instead and go to ``paying``; a later real edit of it in ``paying`` is still ``paying``'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.customers.state import StateCodec
from streams.flows.engine.local import LocalRun
from streams.flows.engine.packed import pack, unpack_tagged
from streams.flows.files import load_flow_files
from streams.flows.topics import AUDIT_CONFLICTS
from streams.mapping import load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "vendors"
PUBLISHED = "test.canonical.vendors"
T0 = dt.datetime(2026, 12, 7, 6, 16, tzinfo=dt.UTC)
CODE = "V-00001"
#: Column -> (SQL type, Connect type), per (system, table); the first column is the primary key.
COLUMNS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("buying", "vendor"): {"id": ("BIGINT", "int64"), "code": ("VARCHAR", "string"), "title": ("VARCHAR", "string")},
    ("buying", "vendor_mail"): {"id": ("BIGINT", "int64"), "code": ("VARCHAR", "string"),
                                "address": ("VARCHAR", "string")},
    ("paying", "supplier"): {"id": ("BIGINT", "int64"), "ref": ("TEXT", "string"), "title": ("TEXT", "string"),
                             "invoice_mail": ("TEXT", "string")},
    ("paying", "supplier_mail"): {"id": ("BIGINT", "int64"), "ref": ("TEXT", "string"),
                                  "address": ("TEXT", "string")},
}
ENGINES = {"buying": Engine.MARIADB, "paying": Engine.POSTGRESQL}
#: The columns that may hold NULL.
OPTIONAL = {"ref", "invoice_mail"}
EMAIL = "  email:           {owner: buying, policy: latest_commit_wins}\n"
#: paying's e-mail kept in a row of its own (``supplier_mail``) instead of the supplier's column.
MAIL_ROW = {"      email: invoice_mail\n": "", "    on_delete: {set: {email: null}}\n  paying_supplier:": (
    "    on_delete: {set: {email: null}}\n  paying_supplier_mail:\n    system: paying\n    table: supplier_mail\n"
    "    fields:\n      customer_number: {from: ref, transform: [required]}\n      email: address\n"
    "    on_delete: {set: {email: null}}\n"
    "  paying_supplier:")}


def _systems() -> Systems:
    return Systems({"buying": system("buying", engine=Engine.MARIADB, writable=True),
                    "paying": system("paying", namespace="public", engine=Engine.POSTGRESQL, writable=True)},
                   directory=HERE)


def _catalogs() -> dict[str, Catalog]:
    tables: dict[str, dict[str, Table]] = {}
    for (name, table), columns in COLUMNS.items():
        key = next(iter(columns))
        tables.setdefault(name, {})[table] = Table(
            name=table, primary_key=(key,), replica_identity="full" if ENGINES[name] is Engine.POSTGRESQL else None,
            columns={c: Column(name=c, sql_type=t, nullable=c in OPTIONAL) for c, (t, _) in columns.items()})
    return {name: Catalog(system=name, engine=ENGINES[name].value, namespace="public" if name == "paying" else name,
                          tables=found) for name, found in tables.items()}


class Vendors:
    """The made-up flow under LocalRun, its e-mail's policy as ``email`` says, the record mapping's text changed as
    ``edits`` say; :meth:`change` feeds one change committed ``at`` seconds after :data:`T0` (each a batch of its
    own: the state is stored and read back between them, as across a restart)."""

    def __init__(self, schemas: SchemaStore, folder: Path, email: str = EMAIL,
                 edits: Mapping[str, str] | None = None) -> None:
        shutil.copytree(HERE, folder)
        mapping = folder / "mappings" / "vendor.yaml"
        text = mapping.read_text(encoding="utf-8")
        for old, new in {EMAIL: email, **(edits or {})}.items():
            assert old in text
            text = text.replace(old, new)
        mapping.write_text(text, encoding="utf-8")
        self.systems = _systems()
        mappings = load_mappings(folder / "mappings", schemas=schemas.schemas, tables=_catalogs(),
                                 systems=self.systems)
        (flow,) = load_flow_files(folder / "flows")
        self.config = entity_config(flow, mappings, schemas.schemas.named, self.systems)
        self.flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=self.systems, config=self.config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.schemas = schemas
        self.position = 1000

    def change(self, name: str, table: str, op: str, *, at: float, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> list[tuple[str, str, Mapping[str, Any]]]:
        """Feed one change; returns the commands it caused as (target, operation, changed fields or payload)."""
        self.position += 10
        columns = {c: (t, None) for c, (_, t) in COLUMNS[(name, table)].items()}
        key, value = change_record(name, table, op, columns=columns, key=next(iter(columns)), engine=ENGINES[name],
                                   namespace="public" if name == "paying" else name,
                                   at=T0 + dt.timedelta(seconds=at), position=self.position, before=before,
                                   after=after)
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(self.systems[name].topic(table), key, value)]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return [_said(sent) for sent in decode_commands(self.run.context.emitted[start:], self.schemas)]

    def published(self) -> Mapping[str, Any]:
        return decode_topic(self.run.context.emitted, PUBLISHED, self.schemas)[-1]

    def conflicts(self) -> list[Mapping[str, Any]]:
        return decode_topic(self.run.context.emitted, AUDIT_CONFLICTS, self.schemas)

    def stored(self) -> bytes:
        raw = self.run.context.memory["entities"].get_raw(CODE)
        assert raw is not None
        return raw


def _said(sent: Sent) -> tuple[str, str, Mapping[str, Any]]:
    target, operation = sent.topic.rsplit(".", 1)[1], sent.route[1]
    if operation == "create":
        return target, operation, {k: v for k, v in sent.payload.items() if k in ("name", "email")}
    return target, operation, {k: sent.payload[k] for k in sent.changed}


def _supplier(**values: Any) -> dict[str, Any]:
    return {"id": 900, "ref": CODE, "title": "Acme", "invoice_mail": None, **values}


VENDOR = {"id": 1, "code": CODE, "title": "Acme"}
MAIL = {"id": 2, "code": CODE, "address": "invoices@acme.test"}


@pytest.fixture
def vendors(schemas: SchemaStore, tmp_path: Path) -> Vendors:
    return Vendors(schemas, tmp_path / "vendors")


def _created_without_the_email(vendors: Vendors, **supplier: Any) -> dict[str, Any]:
    """The vendor created in paying before its e-mail reached the flow, and paying's row made by it, committed at
    06:17:54 (the e-mail was committed in buying at 06:16:30); paying's row as it came back."""
    assert vendors.change("buying", "vendor", "c", after=VENDOR, at=0) == [
        ("paying", "create", {"name": "Acme"})]  # no e-mail: none is known yet
    row = _supplier(**supplier)
    assert vendors.change("paying", "supplier", "c", after=row, at=114) == []
    return row


@pytest.mark.parametrize("email", [
    EMAIL,
    "  email:           {owner: paying, policy: owner_wins}\n",
    "  email:           {owner: buying, policy: owner_wins}\n",
], ids=["latest_commit_wins", "owner_wins_paying", "owner_wins_buying"])
def test_a_late_value_wins_over_the_null_a_create_left(schemas: SchemaStore, tmp_path: Path, email: str) -> None:
    vendors = Vendors(schemas, tmp_path / "vendors", email)
    row = _created_without_the_email(vendors)
    # the e-mail arrives late (replayed from the dead letters), with its own older commit time: it goes to paying,
    # and buying is not told to clear it
    assert vendors.change("buying", "vendor_mail", "c", after=MAIL, at=30) == [
        ("paying", "update", {"email": "invoices@acme.test"})]
    assert vendors.published()["email"] == "invoices@acme.test"
    assert vendors.conflicts() == []
    # paying's echo of it settles it; the entity is at a fixed point
    assert vendors.change("paying", "supplier", "u", before=row, after=_supplier(invoice_mail=MAIL["address"]),
                          at=120) == []


def test_a_later_edit_in_the_created_row_is_still_its_systems(vendors: Vendors) -> None:
    row = _created_without_the_email(vendors)
    edited = _supplier(invoice_mail="ap@acme.test")
    # the record takes it (buying, which has not reported an e-mail yet, is not sent a guess)
    assert vendors.change("paying", "supplier", "u", before=row, after=edited, at=200) == []
    assert vendors.published()["email"] == "ap@acme.test"
    # so an older value of buying's arriving after it loses, as latest_commit_wins says, and is audited
    assert vendors.change("buying", "vendor_mail", "c", after=MAIL, at=30) == [
        ("buying", "update", {"email": "ap@acme.test"})]
    assert vendors.published()["email"] == "ap@acme.test"
    (conflict,) = vendors.conflicts()
    assert (conflict["field"], conflict["winner"], conflict["rule"]) == ("email", "paying", "later_commit")


def test_a_default_the_target_filled_in_is_taken_only_while_no_system_has_a_value(vendors: Vendors) -> None:
    # paying fills in an e-mail of its own on create: the record shows it, no system is told anything
    row = _created_without_the_email(vendors, invoice_mail="ap@paying.test")
    assert vendors.published()["email"] == "ap@paying.test"
    # a snapshot of paying later reads the same row again: still not an edit of paying's
    assert vendors.change("paying", "supplier", "r", after=row, at=150) == []
    # buying's e-mail, committed before either, replaces it everywhere
    assert vendors.change("buying", "vendor_mail", "c", after=MAIL, at=30) == [
        ("paying", "update", {"email": "invoices@acme.test"})]
    assert vendors.published()["email"] == "invoices@acme.test"
    assert vendors.conflicts() == []


def test_a_value_shown_by_a_row_of_another_table_later_is_an_edit(schemas: SchemaStore, tmp_path: Path) -> None:
    """The supplier's row is what the create made; its e-mail, a row of its own that the create did not make,
    added in paying afterwards is paying's edit, and wins over an older value of buying's arriving after it."""
    vendors = Vendors(schemas, tmp_path / "vendors", edits=MAIL_ROW)
    _created_without_the_email(vendors)
    assert vendors.change("paying", "supplier_mail", "c", after={"id": 7, "ref": CODE, "address": "ap@acme.test"},
                          at=200) == []
    assert vendors.change("buying", "vendor_mail", "c", after=MAIL, at=30) == [
        ("buying", "update", {"email": "ap@acme.test"})]
    assert vendors.published()["email"] == "ap@acme.test"


def test_a_snapshot_showing_another_value_than_the_row_had_is_an_edit(vendors: Vendors) -> None:
    _created_without_the_email(vendors)
    assert vendors.change("paying", "supplier", "r", after=_supplier(invoice_mail="ap@acme.test"), at=200) == []
    assert vendors.change("buying", "vendor_mail", "c", after=MAIL, at=30) == [
        ("buying", "update", {"email": "ap@acme.test"})]


def test_the_created_rows_ids_and_the_values_sent_are_still_claimed(vendors: Vendors) -> None:
    _created_without_the_email(vendors)
    published = vendors.published()
    assert (published["name"], published["crm_customer_id"], published["erp_account_id"]) == ("Acme", 1, 900)
    assert published["provenance"]["erp_account_id"]["system"] == "paying"


def test_what_a_create_left_survives_a_restart_and_old_states_still_read(vendors: Vendors) -> None:
    _created_without_the_email(vendors)
    codec = StateCodec(vendors.config)
    state = codec.decode(CODE, vendors.stored())
    assert state.mirror("paying").unsent == {"email"}
    assert codec.decode(CODE, codec.encode(CODE, state)).mirror("paying").unsent == {"email"}
    # a state written before the field was kept: four fields per mirror
    values = unpack_tagged(vendors.stored())
    values[5] = {name: mirror[:4] for name, mirror in values[5].items()}
    assert codec.decode(CODE, pack(values)).mirror("paying").unsent == set()
