"""Order to cash under LocalRun: the waiting order, status back to the CRM without echoes, cancels,
deterministic idempotency keys and poison input."""

from __future__ import annotations

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account, erp_order
from order_harness import Harness, Sent

from reference.topics import (
    COMMANDS_CRM,
    COMMANDS_ERP,
    CRM_CUSTOMERS,
    CRM_SALES_ORDER_LINES,
    CRM_SALES_ORDERS,
    ERP_ACCOUNTS,
    ERP_SALES_ORDERS,
)

NUMBER = "SO-000021"


def customer(cdc: Cdc) -> list[Rec]:
    return cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order


def account(cdc: Cdc) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001"))


def order(cdc: Cdc, *, status: str = "submitted") -> list[Rec]:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1, status=status)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1", quantity="2", unit_price="60.00")),
    ]).in_order


def crm_status(cdc: Cdc, before: str, after: str, *, erp_order_id: int | None = 41,
               before_erp_order_id: int | None = None) -> list[Rec]:
    return cdc.crm_transaction([Change(
        CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1, status=before, erp_order_id=before_erp_order_id),
        after=crm_order(21, NUMBER, 1, status=after, erp_order_id=erp_order_id))]).in_order


def erp_status(cdc: Cdc, before: str | None, after: str) -> Rec:
    if before is None:
        return cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, NUMBER, 11, status=after))
    return cdc.erp(ERP_SALES_ORDERS, "u", before=erp_order(41, NUMBER, 11, status=before),
                   after=erp_order(41, NUMBER, 11, status=after))


def kinds(sent: list[Sent]) -> list[tuple[str, str, str]]:
    return [s.kind for s in sent]


def test_an_order_becomes_one_erp_create_with_mapped_lines(harness: Harness, cdc: Cdc) -> None:
    emitted = harness.feed(customer(cdc), account(cdc), order(cdc))
    (create,) = harness.commands(emitted)
    assert create.topic == COMMANDS_ERP and create.key == NUMBER
    assert create.kind == ("erp", "SalesOrder", "create")
    assert create.record["entity_type"] == create.record["payload_type"] == "isthmus.canonical.SalesOrder"
    assert create.payload["erp_account_id"] == 11 and create.payload["customer_number"] == "C-000001"
    assert create.payload["order_number"] == NUMBER and create.payload["ordered_at"] == "2026-03-10T06:30:00+00:00"
    assert create.payload["lines"] == [
        {"line_no": 1, "sku": "SKU-1", "quantity": "2.000", "unit_price": "60.00", "warehouse_code": None}]
    assert create.record["causation"]["correlation_id"] == NUMBER
    assert create.record["source"]["table"] == "sales_orders" and create.record["source"]["system"] == "crm"


def test_an_order_whose_account_is_not_known_waits_and_goes_when_it_arrives(harness: Harness, cdc: Cdc) -> None:
    assert harness.commands(harness.feed(customer(cdc), order(cdc))) == []
    assert NUMBER in harness.store("documents")
    emitted = harness.feed(account(cdc))
    assert kinds(harness.commands(emitted)) == [("erp", "SalesOrder", "create")]
    assert harness.commands(harness.feed(cdc.erp(ERP_ACCOUNTS, "u", before=erp_account(11, "C-000001"),
                                                 after=erp_account(11, "C-000001", name="Renamed")))) == []


def test_an_order_whose_customer_is_not_known_waits_for_the_customer_and_its_account(
        harness: Harness, cdc: Cdc) -> None:
    assert harness.commands(harness.feed(order(cdc))) == []
    assert harness.commands(harness.feed(account(cdc))) == []
    assert kinds(harness.commands(harness.feed(customer(cdc)))) == [("erp", "SalesOrder", "create")]


def test_the_waiting_order_gets_the_same_key_whichever_event_releases_it(harness: Harness, cdc: Cdc) -> None:
    """The key comes from the order's own change, not from the account change that happened to release it."""
    linked, waiting = customer(cdc), account(cdc)
    submitted = order(cdc)
    direct = harness.commands(harness.feed(linked, waiting, submitted))
    other = Harness(harness.flow, harness.schemas)
    released = other.commands(other.feed(linked, submitted, waiting))
    assert [c.kind for c in direct] == [c.kind for c in released] == [("erp", "SalesOrder", "create")]
    assert direct[0].record["idempotency_key"] == released[0].record["idempotency_key"]
    assert direct[0].record["causation"]["event_id"].startswith("crm:lsn=")
    assert direct[0].record["causation"]["event_id"].endswith(":sales_orders:id=21")


def test_erp_status_flows_back_and_the_crm_echo_commands_nothing(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), order(cdc))
    (back,) = harness.commands(harness.feed(erp_status(cdc, None, "reserved")))
    assert back.topic == COMMANDS_CRM and back.kind == ("crm", "SalesOrder", "update")
    assert back.record["changed_fields"] == ["status", "erp_order_id"]
    assert (back.payload["status"], back.payload["erp_order_id"]) == ("reserved", 41)
    assert harness.commands(harness.feed(crm_status(cdc, "submitted", "reserved", before_erp_order_id=None))) == []
    previous = "reserved"
    for status in ("shipped", "invoiced", "paid"):
        (back,) = harness.commands(harness.feed(erp_status(cdc, previous, status)))
        assert back.record["changed_fields"] == ["status"] and back.payload["status"] == status
        assert harness.commands(harness.feed(crm_status(cdc, previous, status, before_erp_order_id=41))) == []
        previous = status
    assert harness.commands(harness.feed(erp_status(cdc, "paid", "paid"))) == []


def test_late_echoes_of_older_writes_command_nothing(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), order(cdc))
    first = harness.commands(harness.feed(erp_status(cdc, None, "reserved"), erp_status(cdc, "reserved", "shipped")))
    assert [c.payload["status"] for c in first] == ["reserved", "shipped"]
    assert harness.commands(harness.feed(crm_status(cdc, "submitted", "reserved", before_erp_order_id=None))) == []
    assert harness.commands(harness.feed(crm_status(cdc, "reserved", "shipped", before_erp_order_id=41))) == []


def test_a_crm_edit_of_the_status_is_corrected_from_the_erp(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), order(cdc), erp_status(cdc, None, "reserved"))
    harness.feed(crm_status(cdc, "submitted", "reserved", before_erp_order_id=None))
    (fix,) = harness.commands(harness.feed(crm_status(cdc, "reserved", "shipped", before_erp_order_id=41)))
    assert fix.kind == ("crm", "SalesOrder", "update") and fix.payload["status"] == "reserved"
    assert fix.record["source"]["system"] == "crm"


def test_a_crm_cancel_cancels_the_erp_order_once_and_its_echoes_are_quiet(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), order(cdc), erp_status(cdc, None, "reserved"))
    harness.feed(crm_status(cdc, "submitted", "reserved", before_erp_order_id=None))
    (cancel,) = harness.commands(harness.feed(crm_status(cdc, "reserved", "cancelled", before_erp_order_id=41)))
    assert cancel.kind == ("erp", "SalesOrder", "cancel") and cancel.payload["erp_order_id"] == 41
    assert harness.commands(harness.feed(crm_status(cdc, "cancelled", "cancelled", before_erp_order_id=41))) == []
    assert harness.commands(harness.feed(erp_status(cdc, "reserved", "cancelled"))) == []


def test_a_cancel_before_the_erp_order_exists_goes_once_the_erp_has_reserved(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), order(cdc))
    assert harness.commands(harness.feed(crm_status(cdc, "submitted", "cancelled", erp_order_id=None))) == []
    sent = harness.commands(harness.feed(erp_status(cdc, None, "reserved")))
    assert kinds(sent) == [("erp", "SalesOrder", "cancel"), ("crm", "SalesOrder", "update")]
    assert sent[1].record["changed_fields"] == ["erp_order_id"]


def test_a_draft_is_not_sent_until_it_is_submitted(harness: Harness, cdc: Cdc) -> None:
    assert harness.commands(harness.feed(customer(cdc), account(cdc), order(cdc, status="draft"))) == []
    (create,) = harness.commands(harness.feed(crm_status(cdc, "draft", "submitted", erp_order_id=None)))
    assert create.kind == ("erp", "SalesOrder", "create") and create.payload["lines"][0]["sku"] == "SKU-1"


def test_the_same_changes_give_the_same_idempotency_keys_and_command_ids(harness: Harness, cdc: Cdc) -> None:
    def run(h: Harness) -> list[tuple[str, str]]:
        c = Cdc()
        h.feed(customer(c), account(c), order(c), erp_status(c, None, "reserved"), erp_status(c, "reserved", "shipped"))
        return [(s.record["idempotency_key"], s.record["command_id"]) for s in h.commands()]

    first = run(harness)
    replay = run(Harness(harness.flow, harness.schemas))
    assert first == replay and len(first) == 3
    assert len({key for key, _ in first}) == 3


def test_poison_records_are_dead_lettered_and_the_flow_goes_on(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc))
    bad_status = cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(22, "SO-000022", 1, status="lost-in-space")),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(41, 22, 1, "SKU-1")),
    ])
    harness.feed(Rec(CRM_SALES_ORDERS, None, b"not json"), Rec(ERP_SALES_ORDERS, None, b'{"schema": {}}'),
                 bad_status.in_order, order(cdc))
    assert kinds(harness.commands()) == [("erp", "SalesOrder", "create")]
    assert harness.commands()[0].key == NUMBER
    reasons = [d.reason for d in harness.dead_letters]
    assert len(reasons) == 4
    assert "MalformedJson" in reasons[0] and "not JSON" in reasons[0]
    assert "NotAnEnvelope" in reasons[1]
    assert all("lost-in-space" in r and "SO-000022" in r for r in reasons[2:])
    assert {d.stage for d in harness.dead_letters} == {"flow.isthmus-orders"}
