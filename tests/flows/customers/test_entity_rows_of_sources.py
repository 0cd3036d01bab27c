"""Rows of one table read by several sources of the record, and the ends of rows the flow never remembered (a new
user's trial, made up in tests/flows/customers/vendor_rows/: a purchasing system's vendors and their mail and phone
rows, one per kind, become suppliers of a bills system).

- Two sources of one table with their own ``when`` (``kind == 'mail'``, ``kind == 'phone'``), both keyed by the
  row's own ``vendor_code``: a vendor's mail row and phone row are one row of each source, not two rows on one key.
  The flow recorded the rows that map to an entity per table, so every vendor with both rows was dead-lettered
  (``rows vendor_contact:6 and vendor_contact:7 ... both map to``, advising a fix that did not apply).
- The contacts keyed through the link instead (the user's workaround, after which the flow remembers their rows):
  a delete of a row read before that change, never remembered, was dropped without a word although MariaDB sends
  the whole row; where nothing at all is known of the row (a key-only delete), it is counted and said."""

from __future__ import annotations

import asyncio
import logging

import pytest
from vendor_run import BILLS_COMMANDS, Vendors, contact

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers.remembered import UNKNOWN_ENDS
from streams.flows.customers.state import CustomerState
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned

pytestmark = pytest.mark.unit

VENDOR = "V-00004"
MAIL, PHONE = contact(6, VENDOR, "mail", "orders@v4.test"), contact(7, VENDOR, "phone", "+49 30 5550")


def _supplier(run: Vendors, code: str = VENDOR, row_id: int = 40) -> None:
    """The vendor, and the bills supplier its create made (fed back as bills' CDC)."""
    (create,) = run.feed(run.change("vendor", "c", after={"vendor_code": code, "name": f"Vendor {code}"}))
    assert (create.topic, create.route, create.key) == (BILLS_COMMANDS, ("Customer", "create"), code)
    assert run.feed(run.change("supplier", "c", after=run.supplier(create, row_id))) == []


def _stored(run: Vendors, code: str = VENDOR) -> CustomerState:
    return run.flow._codec.decode(code, run.run.context.memory["entities"].get_raw(code))


def test_a_vendors_mail_and_phone_rows_are_one_row_of_each_source(schemas: SchemaStore) -> None:
    run = Vendors(schemas)
    _supplier(run)
    sent = run.feed(run.change("vendor_contact", "c", after=MAIL), run.change("vendor_contact", "c", after=PHONE))
    assert run.dead_letters == []
    assert [(s.route, s.changed) for s in sent] == [(("Customer", "update"), ("email",)),
                                                    (("Customer", "update"), ("phone",))]
    published = run.published(VENDOR)
    assert (published["email"], published["phone"]) == ("orders@v4.test", "+49 30 5550")
    assert _stored(run).rows == {"buying.vendor": [f"vendor:{VENDOR}"], "bills.supplier": ["supplier:40"],
                                 "buying.vendor_contact (buying_mail)": ["vendor_contact:6"],
                                 "buying.vendor_contact (buying_phone)": ["vendor_contact:7"]}
    # the end of one source's row is its source's last row: its on_delete applies, the other source's field stays
    (cleared,) = run.feed(run.change("vendor_contact", "d", before=PHONE))
    assert (cleared.changed, cleared.payload["phone"]) == (("phone",), None)
    assert run.published(VENDOR)["email"] == "orders@v4.test"


def test_a_second_row_of_one_source_is_still_refused_naming_the_source_and_fixes_that_apply(
        schemas: SchemaStore) -> None:
    run = Vendors(schemas)
    _supplier(run)
    run.feed(run.change("vendor_contact", "c", after=MAIL), run.change("vendor_contact", "c", after=PHONE))
    assert run.feed(run.change("vendor_contact", "c", after=contact(8, VENDOR, "mail", "other@v4.test"))) == []
    (letter,) = run.dead_letters
    assert (f"rows vendor_contact:6 and vendor_contact:8 of buying.vendor_contact (buying_mail) both map to "
            f"customer_number '{VENDOR}'") in letter.reason
    assert "through a look-up of the link" in letter.reason and "end one of the rows" in letter.reason
    assert run.published(VENDOR)["email"] == "orders@v4.test"


def test_a_row_moved_to_the_other_source_is_that_sources_row(schemas: SchemaStore) -> None:
    run = Vendors(schemas)
    _supplier(run)
    run.feed(run.change("vendor_contact", "c", after=MAIL))
    moved = {**MAIL, "kind": "phone"}
    sent = run.feed(run.change("vendor_contact", "u", before=MAIL, after=moved))
    assert run.dead_letters == []
    assert [(s.changed, s.payload.get("email"), s.payload.get("phone")) for s in sent] == [
        (("email", "phone"), None, "orders@v4.test")]
    assert _stored(run).rows["buying.vendor_contact (buying_phone)"] == ["vendor_contact:6"]
    assert "buying.vendor_contact (buying_mail)" not in _stored(run).rows


def test_claims_a_state_recorded_under_names_no_source_makes_now_are_dropped_when_read(schemas: SchemaStore) -> None:
    """A state written before the sources of one table had their own claims holds the table's (one row, the
    second having been refused): it is read without it, so no row of the old layout stands for either source."""
    run = Vendors(schemas)
    state = CustomerState(customer_number=VENDOR, config=run.config, record={"name": "Vendor"},
                          rows={"buying.vendor": [f"vendor:{VENDOR}"], "buying.vendor_contact": ["vendor_contact:6"]})
    read = run.flow._codec.decode(VENDOR, state.packed())
    assert read.rows == {"buying.vendor": [f"vendor:{VENDOR}"]}


def _remembering(schemas: SchemaStore) -> Vendors:
    """The vendor and its contacts synced with the contacts keyed by the row's vendor_code; then the worker
    restarted with them keyed through the link (so their rows are remembered from now on, none of these)."""
    run = Vendors(schemas)
    _supplier(run, "V-00306", 306)
    run.feed(run.change("vendor_contact", "c", after=contact(11, "V-00306", "mail", "ap@v306.test")),
             run.change("vendor_contact", "c", after=contact(12, "V-00306", "phone", "+33 1 5550")))
    run.restart(looked_up=True)
    # the vendor's next change indexes it by its code, which the contacts' look-up now goes by
    assert run.feed(run.change("vendor", "u", before={"vendor_code": "V-00306", "name": "Vendor V-00306"},
                               after={"vendor_code": "V-00306", "name": "Vendor V-00306"})) == []
    return run


def test_a_delete_of_a_row_never_remembered_ends_it_from_its_own_before_image(schemas: SchemaStore) -> None:
    run = _remembering(schemas)
    (cleared,) = run.feed(run.change("vendor_contact", "d", before=contact(11, "V-00306", "mail", "ap@v306.test")))
    assert (cleared.route, cleared.changed, cleared.payload["email"]) == (("Customer", "update"), ("email",), None)
    assert run.dead_letters == [] and UNKNOWN_ENDS not in run.run.context.counts
    # an update of a row never remembered is placed by its own before-image too: only what it changed is claimed
    (update,) = run.feed(run.change("vendor_contact", "u", before=contact(12, "V-00306", "phone", "+33 1 5550"),
                                    after=contact(12, "V-00306", "phone", "+33 1 5551")))
    assert (update.changed, update.payload["phone"]) == (("phone",), "+33 1 5551")


def test_the_router_follows_a_delete_of_a_row_never_remembered_by_its_own_before_image(
        schemas: SchemaStore) -> None:
    run = Vendors(schemas, looked_up=True)
    stage = LocalRun(partitioned(run.flow.spec(), 3).stage)
    changes = [run.change("vendor", "c", after={"vendor_code": "V-00309", "name": "Vendor V-00309"}),
               run.change("vendor_contact", "d", before=contact(13, "V-00309", "mail", "ap@v309.test"))]
    asyncio.run(stage.feed([stage.record(t, k, v) for t, k, v in changes]))
    assert [e.key for e in stage.context.emitted] == [b"V-00309", b"V-00309"]


def test_a_key_only_delete_of_a_row_never_remembered_is_counted_and_said_once_per_table(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    run = Vendors(schemas, looked_up=True, key_only=True)
    _supplier(run, "V-00310", 310)
    published = run.published("V-00310")
    with caplog.at_level(logging.WARNING, logger="streams.flows.customers"):
        assert run.feed(run.change("vendor_contact", "d", before={"id": 21}),
                        run.change("vendor_contact", "d", before={"id": 22})) == []
    assert run.dead_letters == [] and run.run.context.counts[UNKNOWN_ENDS] == 2
    (said,) = [r.getMessage() for r in caplog.records if "vendor_contact" in r.getMessage()]
    assert "buying.vendor_contact" in said and "vendor_contact:21" in said
    assert "isthmus connectors snapshot buying-source --tables vendor_contact" in said
    assert run.published("V-00310") == published
