"""A create the target refuses as a business state (recorded by its sink as a CommandResult) holds the document
visibly under LocalRun: a Hold record with the cause and the target's message, the CRM status on_hold; the
account's re-activation (a `hold.release` field of the party) releases it and sends the same create again (its
first key: the target keeps no refused key); an origin edit releases it too, and a changed document goes with a
key of its own; the refusal of a create that is no longer the current one is ignored."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account, erp_order
from order_harness import Harness, Sent

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS, ERP_SALES_ORDERS
from streams.flows.topics import HOLDS
from streams.sinks.topics import results_topic

NUMBER = "SO-000031"
CREATE = ("erp", "SalesOrder", "create")
CRM_UPDATE = ("crm", "SalesOrder", "update")


def customer(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order


def account(cdc: Cdc, *, active: bool, op: str = "c") -> Rec:
    row = {**erp_account(11, "C-000001"), "active": int(active)}
    return cdc.erp(ERP_ACCOUNTS, op, before=None if op == "c" else {**row, "active": int(not active)}, after=row)


def order(cdc: Cdc, lines: int = 1) -> list[Rec]:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
        *(Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(30 + n, 21, n, "SKU-1", unit_price="60.00"))
          for n in range(1, lines + 1))]).in_order


def result(harness: Harness, create: Sent, *, status: int, answer: dict[str, Any]) -> Rec:
    value = {"command_id": create.record["command_id"], "idempotency_key": create.record["idempotency_key"],
             "target": "erp", "operation": "create", "entity_type": create.record["entity_type"],
             "entity_key": NUMBER, "payload_type": create.record["payload_type"], "status": status,
             "assigned_ids": {}, "response": json.dumps(answer), "applied_at": dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
             "attempts": 1, "replayed": False, "correlation_id": NUMBER, "command_created_at": None}
    return Rec(results_topic("erp"), NUMBER.encode(), harness.schemas.encode("isthmus.canonical.CommandResult", value))


INACTIVE = {"error": "account 11 is inactive", "field": "account_id",
            "fix": "reactivate the account (PATCH active true) first"}


def holds(harness: Harness, emitted: Any) -> list[dict[str, Any]]:
    return [dict(harness.schemas.decode(e.value, "isthmus.canonical.Hold").value) for e in emitted
            if e.topic == HOLDS and e.value is not None]


def refused(harness: Harness, cdc: Cdc) -> Sent:
    (create,) = harness.commands(harness.feed(customer(cdc), account(cdc, active=False), order(cdc)))
    assert create.kind == CREATE
    return create


def test_a_refused_create_is_held_with_the_targets_message_and_the_crm_shows_on_hold(
        harness: Harness, cdc: Cdc) -> None:
    create = refused(harness, cdc)
    emitted = harness.feed(result(harness, create, status=409, answer=INACTIVE))
    (status,) = harness.commands(emitted)
    assert status.kind == CRM_UPDATE and status.payload["status"] == "on_hold"
    (hold,) = holds(harness, emitted)
    assert (hold["entity_key"], hold["state"], hold["cause"], hold["message"], hold["field"], hold["status"]) == (
        NUMBER, "held", "refused", "account 11 is inactive", "account_id", 409)
    assert (hold["origin"], hold["target"], hold["origin_status"], hold["command_id"]) == (
        "crm", "erp", "on_hold", create.record["command_id"])
    assert harness.feed(result(harness, create, status=409, answer=INACTIVE)) == []  # said once


def test_the_reactivation_releases_it_and_sends_the_same_create_again_with_its_first_key(
        harness: Harness, cdc: Cdc) -> None:
    create = refused(harness, cdc)
    harness.feed(result(harness, create, status=409, answer=INACTIVE))
    emitted = harness.feed(account(cdc, active=True, op="u"))
    (again,) = harness.commands(emitted)
    assert again.kind == CREATE and again.payload == create.payload
    assert again.record["idempotency_key"] == create.record["idempotency_key"]  # the target keeps no refused key
    (release,) = holds(harness, emitted)
    assert (release["state"], release["cause"]) == ("released", "refused")
    (back,) = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    assert back.kind == CRM_UPDATE and back.payload["status"] == "reserved"


def test_a_change_of_a_field_that_does_not_release_leaves_it_held(harness: Harness, cdc: Cdc) -> None:
    create = refused(harness, cdc)
    harness.feed(result(harness, create, status=409, answer=INACTIVE))
    renamed = {**erp_account(11, "C-000001", name="Renamed"), "active": 0}
    assert harness.commands(harness.feed(cdc.erp(ERP_ACCOUNTS, "u", before={**renamed, "name": "x"},
                                                 after=renamed))) == []


def test_refused_again_it_is_held_again(harness: Harness, cdc: Cdc) -> None:
    create = refused(harness, cdc)
    harness.feed(result(harness, create, status=409, answer=INACTIVE))
    (again,) = harness.commands(harness.feed(account(cdc, active=True, op="u")))
    emitted = harness.feed(result(harness, again, status=409, answer={"error": "account 11 is blocked",
                                                                       "field": "account_id"}))
    (hold,) = holds(harness, emitted)
    assert (hold["state"], hold["message"]) == ("held", "account 11 is blocked")


def test_the_refusal_of_a_create_that_is_no_longer_current_is_ignored(harness: Harness, cdc: Cdc) -> None:
    create = refused(harness, cdc)
    harness.feed(result(harness, create, status=409, answer=INACTIVE))
    added = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "c",
                                        after=crm_line(32, 21, 2, "SKU-1", unit_price="60.00"))]).in_order
    (again,) = [c for c in harness.commands(harness.feed(added)) if c.kind == CREATE]  # the origin changed it
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    assert harness.feed(result(harness, create, status=409, answer=INACTIVE)) == []


def test_a_document_over_the_targets_limits_is_held_with_the_reason_until_the_origin_changes_it(
        harness: Harness, cdc: Cdc) -> None:
    (create,) = harness.commands(harness.feed(customer(cdc), account(cdc, active=True), order(cdc, lines=2)))
    assert create.record["reads_refusals"] is True, "the sink leaves its refusal a result: this flow holds it"
    reason = {"error": "2 lines in one SalesOrder create: erp.yaml takes at most 1 per call", "field": "lines"}
    (hold,) = holds(harness, harness.feed(result(harness, create, status=413, answer=reason)))
    assert (hold["cause"], hold["message"], hold["status"]) == ("too_big", reason["error"], 413)
    edit = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "d",
                                       before=crm_line(32, 21, 2, "SKU-1", unit_price="60.00"))]).in_order
    emitted = harness.feed(edit)
    (again,) = [c for c in harness.commands(emitted) if c.kind == CREATE]
    assert len(again.payload["lines"]) == 1
    # another payload: a key of its own (the same key with another payload is refused)
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    assert [h["state"] for h in holds(harness, emitted)] == ["released"]


def test_a_blocked_party_is_announced_as_a_hold_and_its_unblock_as_a_release(harness: Harness, cdc: Cdc) -> None:
    blocked = erp_account(11, "C-000001", blocked=True)
    emitted = harness.feed(customer(cdc), cdc.erp(ERP_ACCOUNTS, "c", after=blocked), order(cdc))
    (hold,) = holds(harness, emitted)
    assert (hold["state"], hold["cause"]) == ("held", "party_blocked")
    assert "C-000001 is blocked in erp" in hold["message"]
    emitted = harness.feed(cdc.erp(ERP_ACCOUNTS, "u", before=blocked, after=erp_account(11, "C-000001")))
    assert [h["state"] for h in holds(harness, emitted)] == ["released"]
