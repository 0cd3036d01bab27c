"""Invoices and payments move the customer's open balance in the CRM; the customer-360 view follows every
part of the customer."""

from __future__ import annotations

import json

from order_events import (
    Cdc,
    Change,
    Rec,
    crm_customer,
    crm_line,
    crm_order,
    erp_account,
    erp_invoice,
    erp_order,
    erp_payment,
)
from order_harness import Harness

from reference.topics import (
    CRM_CUSTOMERS,
    CRM_SALES_ORDER_LINES,
    CRM_SALES_ORDERS,
    ERP_ACCOUNTS,
    ERP_INVOICES,
    ERP_PAYMENTS,
    ERP_SALES_ORDERS,
)

NUMBER = "C-000001"


def customer(cdc: Cdc, *, open_balance: str = "0", before: str | None = None) -> list[Rec]:
    if before is None:
        change = Change(CRM_CUSTOMERS, "c", after=crm_customer(1, NUMBER, open_balance=open_balance))
    else:
        change = Change(CRM_CUSTOMERS, "u", before=crm_customer(1, NUMBER, open_balance=before),
                        after=crm_customer(1, NUMBER, open_balance=open_balance))
    return cdc.crm_transaction([change]).in_order


def account(cdc: Cdc) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, NUMBER))


def invoice(cdc: Cdc, invoice_id: int, amount: str) -> Rec:
    return cdc.erp(ERP_INVOICES, "c", after=erp_invoice(invoice_id, 41, 11, amount))


def payment(cdc: Cdc, payment_id: int, invoice_id: int, amount: str) -> Rec:
    return cdc.erp(ERP_PAYMENTS, "c", after=erp_payment(payment_id, invoice_id, 11, amount))


def balances(harness: Harness, records: list[Rec] | Rec) -> list[str]:
    sent = harness.commands(harness.feed(records))
    assert all(s.kind == ("crm", "Customer", "update") and s.record["changed_fields"] == ["open_balance"]
               and s.key == NUMBER for s in sent)
    return [s.payload["open_balance"] for s in sent]


def test_open_balance_is_invoiced_minus_paid_and_its_echo_is_quiet(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc))
    assert balances(harness, invoice(cdc, 51, "100.00")) == ["100.00"]
    assert balances(harness, invoice(cdc, 52, "50.50")) == ["150.50"]
    assert balances(harness, payment(cdc, 61, 51, "30.00")) == ["120.50"]
    assert balances(harness, customer(cdc, open_balance="100.00", before="0")) == []  # echoes, late and current
    assert balances(harness, customer(cdc, open_balance="150.50", before="100.00")) == []
    assert balances(harness, customer(cdc, open_balance="120.50", before="150.50")) == []
    deleted = cdc.erp(ERP_PAYMENTS, "d", before=erp_payment(61, 51, 11, "30.00"))
    assert balances(harness, deleted) == ["150.50"]


def test_an_invoice_edit_replaces_its_contribution(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), invoice(cdc, 51, "100.00"))
    edited = cdc.erp(ERP_INVOICES, "u", before=erp_invoice(51, 41, 11, "100.00"),
                     after=erp_invoice(51, 41, 11, "80.00", status="paid"))
    assert balances(harness, edited) == ["80.00"]


def test_a_crm_edit_of_the_open_balance_is_written_back(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc), account(cdc), invoice(cdc, 51, "100.00"), customer(cdc, open_balance="100.00",
                                                                                   before="0"))
    assert balances(harness, customer(cdc, open_balance="7.00", before="100.00")) == ["100.00"]


def test_invoices_of_an_account_not_linked_yet_are_parked_then_counted(harness: Harness, cdc: Cdc) -> None:
    harness.feed(customer(cdc))
    assert balances(harness, [invoice(cdc, 51, "100.00"), payment(cdc, 61, 51, "40.00")]) == []
    waiting = "CustomerAccountXref|erp_account_id=11"  # the look-up they wait for (streams.flows.lookups)
    assert sorted(harness.store("parked")) == [waiting, f"{waiting}#0", f"{waiting}#1"]
    assert balances(harness, account(cdc)) == ["60.00"]
    assert harness.store("parked") == {}
    assert harness.dead_letters == []


def test_many_payments_of_an_unlinked_account_wait_in_small_values(harness: Harness, cdc: Cdc) -> None:
    """One store value per waiting record, and per summed row: 300 payments in one list once outgrew a Kafka
    record and failed the flow's transactions (MessageSizeTooLargeError), and every payment read and wrote all
    the account's rows (an hour for 20,000)."""
    harness.feed(customer(cdc))
    records = [invoice(cdc, 51, "3000.00")] + [payment(cdc, 100 + n, 51, "1.00") for n in range(2000)]
    assert balances(harness, records) == []
    parked = harness.store("parked")
    assert len(parked) == 2002
    assert max(len(json.dumps(value)) for value in parked.values()) < 16384  # one Debezium record each
    assert balances(harness, account(cdc)) == ["1000.00"]
    assert harness.store("parked") == {}
    assert len(harness.store("members")) == 2001
    assert max(len(json.dumps(value)) for store in ("members", "balances")
               for value in harness.store(store).values()) < 256
    assert balances(harness, cdc.erp(ERP_PAYMENTS, "d", before=erp_payment(100, 51, 11, "1.00"))) == ["1001.00"]
    assert len(harness.store("members")) == 2000


def test_a_balance_kept_whole_by_an_older_version_is_split_and_moved_on(harness: Harness, cdc: Cdc) -> None:
    """State written before the rows were kept apart (``members`` inside the party's entry) goes on: the next
    row of the party moves the total from the rows it had."""
    harness.feed(customer(cdc), account(cdc))
    assert balances(harness, [invoice(cdc, 51, "300.00"), payment(cdc, 100, 51, "100.00")]) == ["300.00", "200.00"]
    (party, entry), = harness.store("balances").items()
    rows = harness.run.context.memory["members"]
    whole = {json.dumps(json.loads(k)[1:]): v for k, v in rows.items()}
    for key, _ in list(rows.items()):
        rows.put(key, None)
    harness.run.context.memory["balances"].put(party, {k: v for k, v in entry.items() if k != "totals"}
                                               | {"members": whole})
    assert balances(harness, payment(cdc, 101, 51, "50.00")) == ["150.00"]
    assert len(harness.store("members")) == 3 and "members" not in harness.store("balances")[party]
    assert balances(harness, payment(cdc, 100, 51, "10.00")) == ["240.00"]


def test_the_reconciled_order_the_customer_360_view_shows_carries_the_erp_status_and_the_lines(
        harness: Harness, cdc: Cdc) -> None:
    """The view (streams.flows.view, flows/customer360.yaml) joins the canonical records; the orders flow
    publishes the reconciled order it shows: the CRM's content with the ERP's id and status, and its lines."""
    harness.feed(customer(cdc), account(cdc))
    order = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-000021", 1)),
                                 Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))])
    harness.feed(order.in_order)
    (placed,) = harness.orders(harness.feed(cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, "SO-000021", 11))))
    assert (placed["order_number"], placed["erp_order_id"], placed["status"]) == ("SO-000021", 41, "reserved")
    assert placed["customer_number"] == NUMBER and placed["erp_account_id"] == 11
    assert [line["sku"] for line in placed["lines"]] == ["SKU-1"]
    assert placed["updated_at"] == cdc.now
    assert harness.run.context.emitted[-1].key == b"SO-000021"


def test_the_reconciled_order_is_published_only_when_it_changed(harness: Harness, cdc: Cdc) -> None:
    """A change read twice (a source connector re-sending after a restart) changes nothing published."""
    harness.feed(customer(cdc), account(cdc))
    order = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-000021", 1)),
                                 Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))])
    harness.feed(order.in_order)
    shipped = cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, "SO-000021", 11))
    assert len(harness.orders(harness.feed(shipped))) == 1
    assert harness.orders(harness.feed(shipped)) == []
    billed = invoice(cdc, 51, "100.00")
    harness.feed(billed)
    assert harness.orders(harness.feed(billed)) == []
    assert harness.commands(harness.feed(billed)) == []
