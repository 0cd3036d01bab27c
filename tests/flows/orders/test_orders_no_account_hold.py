"""An order whose customer has no ERP account is never silently stuck, under LocalRun: it waits (most such waits
last a moment, the account on its way), and once it has waited the worker's hold time the flow's tick holds it
visibly: a Hold record with cause no_account naming the customer and what to do; no CRM status, no create. The
account's arrival sends the create and releases the hold; the tick counts the waiting orders for /metrics."""

from __future__ import annotations

import time
from typing import Any

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.topics import HOLDS

NUMBER = "SO-000201"
CREATE = ("erp", "SalesOrder", "create")
HOLD_AFTER_S = 300.0


def customer(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000201"))]).in_order


def account(cdc: Cdc) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000201"))


def order(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1", unit_price="60.00")),
    ]).in_order


def holds(harness: Harness, emitted: Any) -> list[dict[str, Any]]:
    return [dict(harness.schemas.decode(e.value, "isthmus.canonical.Hold").value) for e in emitted
            if e.topic == HOLDS and e.value is not None]


def tick(harness: Harness, after_s: float) -> list[Any]:
    """The flow's tick ``after_s`` from now; returns what it emitted."""
    seen = len(harness.run.context.emitted)
    harness.run.tick(now_s=time.time() + after_s, hold_after_s=HOLD_AFTER_S)
    harness.seen = len(harness.run.context.emitted)
    return harness.run.context.emitted[seen:]


def test_an_order_whose_customer_has_no_account_is_held_naming_the_customer_once_the_wait_lasts(
        harness: Harness, cdc: Cdc) -> None:
    emitted = harness.feed(customer(cdc), order(cdc))
    assert harness.commands(emitted) == [] and holds(harness, emitted) == []  # a wait of a moment is no hold yet
    assert holds(harness, tick(harness, 0)) == []
    emitted = tick(harness, HOLD_AFTER_S + 1)
    assert harness.commands(emitted) == []  # the CRM has no status for it: its order stays submitted
    (hold,) = holds(harness, emitted)
    assert (hold["entity_key"], hold["state"], hold["cause"], hold["field"]) == (
        NUMBER, "held", "no_account", "erp_account_id")
    assert (hold["origin"], hold["target"], hold["origin_status"], hold["command_id"]) == ("crm", "erp", None, None)
    assert "Customer C-000201 has no account in erp" in hold["message"]
    assert "isthmus topics dlq list --pending" in hold["message"]
    assert holds(harness, tick(harness, HOLD_AFTER_S + 2)) == []  # said once
    assert holds(harness, harness.feed(cdc.crm_transaction([Change(
        CRM_CUSTOMERS, "u", before=crm_customer(1, "C-000201"),
        after=crm_customer(1, "C-000201", name="Renamed"))]).in_order)) == []  # still the same hold


def test_the_accounts_arrival_sends_the_held_order_once_and_releases_it(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), order(cdc))
    tick(harness, HOLD_AFTER_S + 1)
    emitted = harness.feed(account(cdc))
    (create,) = harness.commands(emitted)
    assert create.kind == CREATE and create.payload["erp_account_id"] == 11
    (release,) = holds(harness, emitted)
    assert (release["entity_key"], release["state"], release["cause"]) == (NUMBER, "released", "no_account")
    assert holds(harness, tick(harness, 2 * HOLD_AFTER_S)) == []
    assert harness.store("index").get("no_account") is None  # it no longer waits


def test_an_account_that_arrives_within_the_hold_time_sends_the_order_with_no_hold(
        harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), order(cdc))
    emitted = harness.feed(account(cdc))
    assert [c.kind for c in harness.commands(emitted)] == [CREATE] and holds(harness, emitted) == []
    assert holds(harness, tick(harness, HOLD_AFTER_S + 1)) == []


def test_the_tick_counts_the_orders_waiting_for_their_account(harness: Harness, cdc: Cdc) -> None:
    before = time.time()
    harness.feed(customer(cdc), order(cdc))
    waiting = harness.run.tick(now_s=time.time(), hold_after_s=HOLD_AFTER_S)
    assert waiting.records == 1 and waiting.oldest_since_s is not None and waiting.oldest_since_s >= before
    harness.feed(account(cdc))
    assert harness.run.tick(now_s=time.time(), hold_after_s=HOLD_AFTER_S).records == 0


def test_an_order_whose_account_was_deleted_is_held(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), cdc.erp(ERP_ACCOUNTS, "d", before=erp_account(11, "C-000201")))
    assert harness.commands(harness.feed(order(cdc))) == []
    (hold,) = holds(harness, tick(harness, HOLD_AFTER_S + 1))
    assert (hold["state"], hold["cause"]) == ("held", "no_account")


def test_an_order_whose_customer_the_flow_cannot_look_up_is_held_and_released_when_it_arrives(
        harness: Harness, cdc: Cdc) -> None:
    """Its customer row was never seen (not captured, or its changes filtered out): the order waits for that
    look-up, is held once the wait lasts (cause waiting_for, naming the look-up), and goes on when it arrives."""
    emitted = harness.feed(order(cdc))
    assert harness.commands(emitted) == [] and holds(harness, tick(harness, 0)) == []
    (hold,) = holds(harness, tick(harness, HOLD_AFTER_S + 1))
    assert (hold["entity_key"], hold["state"], hold["cause"], hold["origin_status"]) == (
        NUMBER, "held", "waiting_for", None)
    assert "the document waits for " in hold["message"] and "=1" in hold["message"]
    assert holds(harness, tick(harness, HOLD_AFTER_S + 2)) == []  # said once
    emitted = harness.feed(customer(cdc), account(cdc))
    assert [c.kind for c in harness.commands(emitted)] == [CREATE]
    assert [(h["state"], h["cause"]) for h in holds(harness, emitted)] == [("released", "waiting_for")]
    assert holds(harness, tick(harness, 2 * HOLD_AFTER_S)) == []
    assert harness.store("index").get("waiting_for") is None  # the tick forgets what no longer waits
