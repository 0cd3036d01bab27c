"""A create of Isthmus's that made a second row beside the entity's own (a new user's trial: organisations keyed by
a VAT number each mapping normalises, tests/flows/customers/vat_orgs/ made up over it).

leads (PostgreSQL, written by SQL) committed its organisation 'de 100 000 402' first; books committed
'DE100000402' later, but the flow read books' change first, so it sent leads a ``create``, whose upsert by the VAT
column as entered found nothing and made a second row. The row read meanwhile was linked, and the create's echo
was refused as a second row on the key, saying only to make the mapping's key unique: it names now the row
Isthmus made, what from and when, the other row as the same organisation, and the way out, which works: ending
the row Isthmus made keeps the other one linked, nothing ended anywhere.

The worker's line about a value reported where another was sent (``_unrecognised``) came for that row's own
values too, steering to ``systems.<s>.keeps``: it lists the causes by likelihood now, says when the values cannot
be a normalised form, and says normalisation once the same kind of difference is seen on several entities.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, sync
from streams.mapping import RecordMapping
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "vat_orgs"
VAT = "DE100000402"
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
#: Each table: column -> (SQL type, Connect type), its key, its system.
TABLES = {
    "debtor": MadeUpTable(system="books", engine=Engine.MARIADB, namespace="books", key=("debtor_no",), columns={
        "debtor_no": ("INT", "int32"), "vat_no": ("VARCHAR", "string"), "name": ("VARCHAR", "string"),
        "credit_limit": ("DECIMAL", "bytes"), "on_hold": ("TINYINT", "int16"), "active": ("TINYINT", "int16")},
        decimals={"credit_limit": 2}),
    "org": MadeUpTable(system="leads", engine=Engine.POSTGRESQL, namespace="leads", key=("org_id",), columns={
        "org_id": ("BIGINT", "int64"), "vat_no": ("TEXT", "string"), "legal_name": ("TEXT", "string"),
        "tier": ("TEXT", "string"), "credit_limit": ("NUMERIC", "bytes"), "on_hold": ("BOOLEAN", "boolean")},
        decimals={"credit_limit": 2}),
}


@functools.cache
def _loaded(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    return made_up_flow(schemas, HERE, TABLES, required=("vat_no", "name", "legal_name", "active"))


class Orgs(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the commands the changes caused."""

    def __init__(self, schemas: SchemaStore) -> None:
        mappings, systems, config = _loaded(schemas)
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=config, clock=lambda: self.now),
                         start=T0, published_to="test.canonical.vat_orgs")

    def table(self, name: str) -> MadeUpTable:
        return TABLES[name]


def debtor(number: int, vat: str, name: str) -> dict[str, Any]:
    return {"debtor_no": number, "vat_no": vat, "name": name, "credit_limit": Decimal("5000.00"), "on_hold": 0,
            "active": 1}


def org(org_id: int, vat: str, name: str, **values: Any) -> dict[str, Any]:
    return {"org_id": org_id, "vat_no": vat, "legal_name": name, "tier": "gold", "credit_limit": None,
            "on_hold": None, **values}


#: leads' own row of the organisation, its VAT as entered; and the row the create's upsert made beside it.
OWN = org(7, "de 100 000 402", "Leads Org 402 GmbH")
MADE = org(8, VAT, "Books 402 Ltd", tier=None, credit_limit=Decimal("5000.00"), on_hold=False)


@pytest.fixture(autouse=True)
def _nothing_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in a process that has said nothing yet (the flow says some things once per process)."""
    monkeypatch.setattr(sync, "_SAID", set())
    monkeypatch.setattr(sync, "_FORMS", {})


def _made_beside(run: Orgs) -> None:
    """leads commits its row first, books its debtor a second later; books' change is read first, so leads gets a
    create; leads' row is read next (linked), then the row the create made (its echo), refused."""
    own = run.change("org", "c", after=OWN)  # committed at T0+1s, read later
    (create,) = run.feed(run.change("debtor", "c", after=debtor(402, VAT, "Books 402 Ltd")))  # T0+2s
    assert (create.topic, create.route, create.payload["customer_number"]) == (
        "isthmus.commands.leads", ("Customer", "create"), VAT)
    # leads' own row, not the create's echo: its name (leads owns it) goes to books, books' credit limit to leads
    assert [(s.topic, s.route, s.changed) for s in run.feed(own)] == [
        ("isthmus.commands.books", ("Customer", "update"), ("name",)),
        ("isthmus.commands.leads", ("Customer", "update"), ("credit_limit",))]
    assert (run.published(VAT)["crm_customer_id"], run.published(VAT)["name"]) == (7, "Leads Org 402 GmbH")
    assert run.feed(run.change("org", "c", after=MADE)) == []  # T0+3s


def test_the_echo_of_a_create_beside_the_row_read_late_names_the_row_isthmus_made(schemas: SchemaStore) -> None:
    run = Orgs(schemas)
    _made_beside(run)
    (letter,) = run.dead_letters
    reason = letter.reason
    assert (f"rows org:7 and org:8 of leads.org both map to customer_number '{VAT}', and org:8 is the row Isthmus "
            "made: its insert, committed 2026-12-07 09:00:03+00:00, reported the values of the create Isthmus sent "
            "leads for this Customer, made from books's change committed 2026-12-07 09:00:02+00:00. org:7 is the "
            "same Customer, committed in leads 2026-12-07 09:00:01+00:00, before that change, but not read yet when "
            "the create was decided") in reason, reason
    assert "Merge them in leads: end org:8, the row Isthmus made, and the flow keeps org:7, linked already" in reason
    assert "upserts by a business key its table stores un-normalised" in reason
    assert "make the create an upsert on a normalised column" in reason
    # not the advice for a key that is not unique per row: the user's mapping is not at fault
    assert "make the mapping's key unique per row" not in reason


def test_ending_the_row_isthmus_made_keeps_the_row_read_late_linked(schemas: SchemaStore) -> None:
    run = Orgs(schemas)
    _made_beside(run)
    published = run.published(VAT)
    # the user merges them in leads as told: the row Isthmus made is deleted; nothing ends, nothing is sent
    assert run.feed(run.change("org", "d", before=MADE)) == []
    assert len(run.dead_letters) == 1
    assert run.published(VAT) == published and published["active"] is True and published["crm_customer_id"] == 7
    # leads' own row goes on as the organisation's: its rename reaches books as an update, no create anywhere
    renamed = {**OWN, "legal_name": "Leads Org 402 AG"}
    sent = run.feed(run.change("org", "u", before=OWN, after=renamed))
    assert [(s.topic, s.route, s.payload["name"]) for s in sent if s.topic.endswith(".books")] == [
        ("isthmus.commands.books", ("Customer", "update"), "Leads Org 402 AG")]
    assert all(s.route[1] != "create" for s in sent) and len(run.dead_letters) == 1
    assert run.published(VAT)["name"] == "Leads Org 402 AG"


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "where Isthmus had sent" in r.getMessage()
            or "in another form than Isthmus sent" in r.getMessage()]


def test_a_row_with_its_own_values_is_said_as_nothing_to_do_not_as_normalisation(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    run = Orgs(schemas)
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        _made_beside(run)
    (limit,) = [s for s in _said(caplog) if "credit_limit" in s]
    assert limit == (
        f"leads reported credit_limit None where Isthmus had sent 5000.00 (customer_number {VAT}): an edit made in "
        "leads meanwhile, or a row that had its own value there before, read after the command was decided; nothing "
        "to do, the field's policy settles it. No normalisation: the values differ beyond case, spaces and "
        "rounding; said once per system and field")
    assert not any("keeps" in s for s in _said(caplog))


def test_the_same_difference_in_form_on_several_entities_is_said_as_normalisation_once(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    """books stores the names it is sent upper-cased (a form of the value, not another one): the first echo is said
    with the causes by likelihood, normalisation last; the third organisation that shows it says normalisation,
    once."""
    run = Orgs(schemas)
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        for n in range(5):
            vat = f"DE20000000{n}"
            (create,) = run.feed(run.change("org", "c", after=org(20 + n, vat, f"Org {n} GmbH")))
            assert (create.topic, create.route) == ("isthmus.commands.books", ("Customer", "create"))
            run.feed(run.change("debtor", "c", after=debtor(500 + n, vat, f"ORG {n} GMBH")))
    first, normalises = _said(caplog)
    assert first == (
        "books reported name *** where Isthmus had sent *** (customer_number DE200000000): most likely an edit made "
        "in books meanwhile, or a row that had its own value there before, read after the command was decided: "
        "nothing to do, the field's policy settles it; else books normalises what it stores (the value could be the "
        "one sent, in another form): if the same difference comes back on other Customers, declare it: "
        "systems.books.keeps (flows/README.md); said once per system and field")
    assert normalises == (
        "books reported name in another form than Isthmus sent it on 3 Customers (last *** for ***, customer_number "
        "DE200000002): it normalises what it stores; declare it, so its echoes are recognised: systems.books.keeps "
        "(flows/README.md); said once per system and field")
