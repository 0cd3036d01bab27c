"""A CRM edit of an order the ERP has (flows/orders.yaml ``update: {while: [reserved]}``) under LocalRun: sent as
one ``SalesOrder update`` of the whole order while the ERP holds it reserved, never again for an echo, a replay or
the ERP's own report of it; held visibly (cause ``locked``) once the ERP shipped it, released when the edit is
undone or the order cancelled; an update the ERP refuses holds it too. Without ``update:``, no edit is sent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account, erp_order
from order_harness import Harness, Sent, orders_flow_file
from support.systems import reference_systems

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS, ERP_SALES_ORDERS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.files import load_flow_files
from streams.flows.orders import document_flow
from streams.flows.topics import HOLDS
from streams.mapping import RecordMapping
from streams.sinks.topics import results_topic

pytestmark = pytest.mark.unit

NUMBER = "SO-000051"
CREATE, UPDATE = ("erp", "SalesOrder", "create"), ("erp", "SalesOrder", "update")


def line(line_id: int, line_no: int, quantity: str) -> dict[str, Any]:
    return crm_line(line_id, 21, line_no, "SKU-1", quantity=quantity, unit_price="60.00")


def header(*, status: str = "reserved", total: str = "120.00") -> dict[str, Any]:
    return crm_order(21, NUMBER, 1, status=status, total=total, erp_order_id=41)


def created(harness: Harness, cdc: Cdc) -> Sent:
    """A CRM order of two lines created in the ERP, which shows it reserved; the CRM has its status and id back."""
    (create,) = harness.commands(harness.feed(
        cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order,
        cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")),
        cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
                             Change(CRM_SALES_ORDER_LINES, "c", after=line(31, 1, "1")),
                             Change(CRM_SALES_ORDER_LINES, "c", after=line(32, 2, "1"))]).in_order))
    assert create.kind == CREATE
    (back,) = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    assert back.payload["status"] == "reserved"
    echo = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1), after=header())])
    assert harness.commands(harness.feed(echo.in_order)) == []  # the write-back's echo: no update
    return create


def edit(cdc: Cdc, *, quantity: str = "3", total: str = "240.00", added: bool = True) -> list[Rec]:
    """One CRM transaction: line 1's quantity, a third line (or not), the header's total."""
    changes = [Change(CRM_SALES_ORDER_LINES, "u", before=line(31, 1, "1"), after=line(31, 1, quantity)),
               *([Change(CRM_SALES_ORDER_LINES, "c", after=line(33, 3, "1"))] if added else []),
               Change(CRM_SALES_ORDERS, "u", before=header(), after=header(total=total))]
    return cdc.crm_transaction(changes).in_order


def undo(cdc: Cdc) -> list[Rec]:
    """The edit of :func:`edit` undone in one CRM transaction."""
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDER_LINES, "u", before=line(31, 1, "3"), after=line(31, 1, "1")),
        Change(CRM_SALES_ORDER_LINES, "d", before=line(33, 3, "1")),
        Change(CRM_SALES_ORDERS, "u", before=header(total="240.00"), after=header())]).in_order


def holds(harness: Harness, emitted: Any) -> list[dict[str, Any]]:
    return [dict(harness.schemas.decode(e.value, "isthmus.canonical.Hold").value) for e in emitted
            if e.topic == HOLDS and e.value is not None]


def shipped(cdc: Cdc) -> Rec:
    return cdc.erp(ERP_SALES_ORDERS, "u", before=erp_order(41, NUMBER, 11),
                   after=erp_order(41, NUMBER, 11, status="shipped"))


def result(harness: Harness, sent: Sent, answer: dict[str, Any], status: int = 409) -> Rec:
    value = {"command_id": sent.record["command_id"], "idempotency_key": sent.record["idempotency_key"],
             "target": "erp", "operation": sent.record["operation"], "entity_type": sent.record["entity_type"],
             "entity_key": NUMBER, "payload_type": sent.record["payload_type"], "status": status,
             "assigned_ids": {}, "response": json.dumps(answer), "applied_at": dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
             "attempts": 1, "replayed": False, "correlation_id": NUMBER, "command_created_at": None}
    return Rec(results_topic("erp"), NUMBER.encode(), harness.schemas.encode("isthmus.canonical.CommandResult", value))


def test_an_edit_of_a_reserved_order_is_one_update_of_the_whole_order(harness: Harness, cdc: Cdc) -> None:
    create = created(harness, cdc)
    sent = harness.commands(harness.feed(edit(cdc)))
    (update,) = sent  # three changes of one transaction: one command
    assert update.kind == UPDATE and update.key == create.key == NUMBER
    assert [(x["line_no"], x["quantity"]) for x in update.payload["lines"]] == [(1, "3.000"), (2, "1.000"),
                                                                                 (3, "1.000")]
    assert update.payload["total_amount"] == "240.00" and update.payload["erp_order_id"] == 41
    assert update.record["idempotency_key"] != create.record["idempotency_key"]
    # the ERP's report of the applied update, and the same content reported again, send nothing
    applied = cdc.erp(ERP_SALES_ORDERS, "u", before=erp_order(41, NUMBER, 11),
                      after=erp_order(41, NUMBER, 11, total="240.00"))
    assert harness.commands(harness.feed(applied)) == []
    touched = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=header(total="240.00"),
                                          after={**header(total="240.00"), "version": 2})])
    assert harness.commands(harness.feed(touched.in_order)) == []


def test_the_create_the_erps_order_and_the_crms_echo_judge_no_content(harness: Harness, cdc: Cdc) -> None:
    """The per-document cost stays off the common path: only an edit of content computes the digest."""
    created(harness, cdc)
    document = harness.store("documents")[NUMBER]
    assert "sent_digest" not in document and "unsent_edit" not in document


def test_a_replayed_edit_sends_no_second_update(harness: Harness, cdc: Cdc) -> None:
    created(harness, cdc)
    records = edit(cdc)
    (update,) = harness.commands(harness.feed(records))
    assert update.kind == UPDATE
    assert harness.commands(harness.feed(records)) == []  # read again (a restart before the commit's offsets)
    assert harness.store("documents")[NUMBER]["updates"] == 1


def test_a_restarted_flow_sends_no_update_again_from_its_stores(
        harness: Harness, cdc: Cdc, schemas: SchemaStore, mappings: dict[str, RecordMapping]) -> None:
    created(harness, cdc)
    records = edit(cdc)
    assert [c.kind for c in harness.commands(harness.feed(records))] == [UPDATE]
    restarted = Harness(document_flow(orders_flow_file(), schemas=schemas, mappings=mappings,
                                      systems=reference_systems("Asia/Shanghai")), schemas)
    for name, store in harness.run.context.memory.items():  # what the changelogs restore
        for key, value in store.items():
            restarted.run.context.memory[name].put(key, value)
    assert restarted.commands(restarted.feed(records)) == []
    assert [c.kind for c in restarted.commands(restarted.feed(shipped(cdc)))] == [("crm", "SalesOrder", "update")]


def test_an_edit_made_while_the_create_is_on_its_way_goes_once_the_erp_shows_the_order(
        harness: Harness, cdc: Cdc) -> None:
    harness.feed(cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order,
                 cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))
    (create,) = harness.commands(harness.feed(cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=line(31, 1, "1"))]).in_order))
    changed = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "u", before=line(31, 1, "1"),
                                          after=line(31, 1, "5"))])
    assert harness.commands(harness.feed(changed.in_order)) == []  # no ERP order yet: the create carries "1"
    sent = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    (update,) = [c for c in sent if c.kind == UPDATE]
    assert [x["quantity"] for x in update.payload["lines"]] == ["5.000"]
    assert create.payload["lines"][0]["quantity"] == "1.000"


def test_an_edit_of_a_shipped_order_is_held_locked_until_it_is_undone(harness: Harness, cdc: Cdc) -> None:
    created(harness, cdc)
    harness.feed(shipped(cdc))
    emitted = harness.feed(edit(cdc))
    assert [c.kind for c in harness.commands(emitted)] == []
    (hold,) = holds(harness, emitted)
    assert (hold["entity_key"], hold["state"], hold["cause"], hold["field"], hold["origin_status"]) == (
        NUMBER, "held", "locked", "status", None)
    assert "erp holds it as shipped" in hold["message"] and "undo it in crm" in hold["message"]
    renamed = harness.feed(cdc.erp(ERP_ACCOUNTS, "u", before=erp_account(11, "C-000001"),
                                   after=erp_account(11, "C-000001", name="Renamed")))
    assert holds(harness, renamed) == [] and harness.commands(renamed) == []  # still held, said once
    emitted = harness.feed(undo(cdc))
    assert harness.commands(emitted) == []
    (release,) = holds(harness, emitted)
    assert (release["state"], release["cause"]) == ("released", "locked")


def test_a_locked_edit_gives_way_to_the_orders_cancel_held_as_shipped(harness: Harness, cdc: Cdc) -> None:
    created(harness, cdc)
    harness.feed(shipped(cdc))
    harness.feed(edit(cdc))
    cancel = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=header(total="240.00"),
                                         after=header(total="240.00", status="cancelled"))])
    emitted = harness.feed(cancel.in_order)
    assert [c.kind for c in harness.commands(emitted) if c.record["target"] == "erp"] == []  # shipped: no cancel
    assert [c for c in harness.commands(emitted) if c.record["target"] == "crm"] == []  # the CRM keeps its cancel
    (held,) = holds(harness, emitted)  # the edit no longer matters; the cancel is held in its place
    assert (held["state"], held["cause"]) == ("held", "locked") and "no cancel" in held["message"]


def test_an_update_the_erp_refuses_is_held_with_its_message_until_the_crm_edits_again(
        harness: Harness, cdc: Cdc) -> None:
    created(harness, cdc)
    (update,) = harness.commands(harness.feed(edit(cdc)))
    assert update.record["reads_refusals"] is True, "the sink leaves its refusal a result: this flow holds it"
    short = {"error": "not enough stock of SKU-1: 3 requested, 2 available in WH1", "field": "lines"}
    emitted = harness.feed(result(harness, update, short))
    assert harness.commands(emitted) == []
    (hold,) = holds(harness, emitted)
    assert (hold["state"], hold["cause"], hold["message"], hold["status"], hold["command_id"]) == (
        "held", "refused", short["error"], 409, update.record["command_id"])
    assert harness.feed(result(harness, update, short)) == []  # said once
    fewer = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "u", before=line(31, 1, "3"),
                                        after=line(31, 1, "2"))])
    emitted = harness.feed(fewer.in_order)
    (again,) = harness.commands(emitted)
    assert again.kind == UPDATE and again.record["idempotency_key"] != update.record["idempotency_key"]
    assert [x["quantity"] for x in again.payload["lines"]] == ["2.000", "1.000", "1.000"]
    assert [(h["state"], h["cause"]) for h in holds(harness, emitted)] == [("released", "refused")]


def test_undoing_a_refused_edit_releases_it_with_nothing_sent(harness: Harness, cdc: Cdc) -> None:
    created(harness, cdc)
    (update,) = harness.commands(harness.feed(edit(cdc)))
    harness.feed(result(harness, update, {"error": "order 41 is shipped", "field": "status"}))
    emitted = harness.feed(undo(cdc))
    assert harness.commands(emitted) == []  # what the ERP has: the create's content
    assert [(h["state"], h["cause"]) for h in holds(harness, emitted)] == [("released", "refused")]


def test_without_update_in_the_flow_file_an_edit_is_not_sent(
        tmp_path: Path, schemas: SchemaStore, mappings: dict[str, RecordMapping], cdc: Cdc) -> None:
    text = orders_flow_file().path.read_text(encoding="utf-8")
    assert "  update: {while: [reserved]}\n" in text
    (tmp_path / "orders.yaml").write_text(text.replace("  update: {while: [reserved]}\n", ""), encoding="utf-8")
    (flow,) = load_flow_files(tmp_path, env={})
    harness = Harness(document_flow(flow, schemas=schemas, mappings=mappings,
                                    systems=reference_systems("Asia/Shanghai")), schemas)
    created(harness, cdc)
    emitted = harness.feed(edit(cdc))
    assert harness.commands(emitted) == [] and holds(harness, emitted) == []
    assert "sent_digest" not in harness.store("documents")[NUMBER]
