"""Orders of blocked ERP accounts under LocalRun: held (CRM status on_hold) instead of sent, released by the
unblock; a create the ERP may have refused in a race is re-sent with its first key and payload."""

from __future__ import annotations

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account, erp_order
from order_harness import Harness, Sent

from reference.topics import (
    COMMANDS_CRM,
    CRM_CUSTOMERS,
    CRM_SALES_ORDER_LINES,
    CRM_SALES_ORDERS,
    ERP_ACCOUNTS,
    ERP_SALES_ORDERS,
)

NUMBER = "SO-000021"
CREATE = ("erp", "SalesOrder", "create")
CRM_UPDATE = ("crm", "SalesOrder", "update")


def customer(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order


def account(cdc: Cdc, *, blocked: bool) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001", blocked=blocked))


def blocking(cdc: Cdc, blocked: bool) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "u", before=erp_account(11, "C-000001", blocked=not blocked),
                   after=erp_account(11, "C-000001", blocked=blocked))


def order(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1", quantity="2", unit_price="60.00")),
    ]).in_order


def crm_held_echo(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1),
                                       after=crm_order(21, NUMBER, 1, status="on_hold"))]).in_order


def kinds(sent: list[Sent]) -> list[tuple[str, str, str]]:
    return [s.kind for s in sent]


def test_an_order_of_a_blocked_account_is_held_and_the_crm_shows_on_hold(harness: Harness, cdc: Cdc) -> None:
    sent = harness.commands(harness.feed(customer(cdc), account(cdc, blocked=True), order(cdc)))
    (hold,) = sent
    assert hold.kind == CRM_UPDATE and hold.topic == COMMANDS_CRM and hold.key == NUMBER
    assert hold.payload["status"] == "on_hold" and hold.record["changed_fields"] == ["status"]
    assert harness.store("documents")[NUMBER]["held"] is True
    assert harness.commands(harness.feed(crm_held_echo(cdc))) == []  # our echo, nothing sent to the ERP


def test_the_unblock_releases_a_held_order_once(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc, blocked=True), order(cdc), crm_held_echo(cdc))
    (create,) = harness.commands(harness.feed(blocking(cdc, False)))
    assert create.kind == CREATE and create.payload["erp_account_id"] == 11
    assert create.payload["lines"][0]["sku"] == "SKU-1"
    (back,) = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    assert back.kind == CRM_UPDATE and back.payload["status"] == "reserved" and back.payload["erp_order_id"] == 41
    assert harness.commands(harness.feed(blocking(cdc, True), blocking(cdc, False))) == []


def test_a_held_order_released_before_its_crm_echo_goes_once(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc, blocked=True), order(cdc))
    assert kinds(harness.commands(harness.feed(blocking(cdc, False)))) == [CREATE]
    assert harness.commands(harness.feed(crm_held_echo(cdc))) == []


def test_a_create_in_doubt_is_resent_on_the_unblock_with_its_first_key_and_payload(
        harness: Harness, cdc: Cdc) -> None:
    """Sent before the flow saw the block: the ERP may have refused it (409), so the unblock re-sends it."""
    (first,) = harness.commands(harness.feed(customer(cdc), account(cdc, blocked=False), order(cdc)))
    assert first.kind == CREATE
    (hold,) = harness.commands(harness.feed(blocking(cdc, True)))
    assert hold.kind == CRM_UPDATE and hold.payload["status"] == "on_hold"
    harness.feed(crm_held_echo(cdc))
    (again,) = harness.commands(harness.feed(blocking(cdc, False)))
    assert again.kind == CREATE
    assert again.record["idempotency_key"] == first.record["idempotency_key"]
    assert again.record["command_id"] == first.record["command_id"]
    assert again.payload == first.payload
    # blocked and unblocked again before the ERP order is seen: still in doubt, the same create once more
    resent = harness.commands(harness.feed(blocking(cdc, True), blocking(cdc, False)))
    assert [s.record["idempotency_key"] for s in resent] == [first.record["idempotency_key"]]


def test_a_create_the_erp_applied_is_not_resent_after_a_later_block(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc, blocked=False), order(cdc))
    (back,) = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    assert back.payload["status"] == "reserved"
    assert harness.commands(harness.feed(blocking(cdc, True), blocking(cdc, False))) == []


def test_an_order_in_doubt_whose_erp_order_arrives_shows_the_erp_status(harness: Harness, cdc: Cdc) -> None:
    """The block came after the create was applied: the hold shown meanwhile gives way to the ERP's status."""
    harness.feed(customer(cdc), account(cdc, blocked=False), order(cdc))
    (hold,) = harness.commands(harness.feed(blocking(cdc, True)))
    assert hold.payload["status"] == "on_hold"
    (back,) = harness.commands(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11))))
    assert back.payload["status"] == "reserved" and back.record["changed_fields"] == ["status", "erp_order_id"]
    assert harness.commands(harness.feed(blocking(cdc, False))) == []
    assert harness.store("documents")[NUMBER]["held"] is False
