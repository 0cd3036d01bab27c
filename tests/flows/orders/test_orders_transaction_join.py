"""A CRM order and its lines are used only once their whole source transaction has arrived, in commit order,
whatever order the topics deliver them in."""

from __future__ import annotations

import itertools

import pytest
from order_events import Cdc, Change, Rec, Transaction, crm_customer, crm_line, crm_order, decimal, erp_account
from order_harness import Harness

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.orders.txjoin import ENDED

NUMBER = "SO-000021"


def linked_customer(harness: Harness, cdc: Cdc) -> None:
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))])
    harness.feed(customer.in_order, cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))


def order_tx(cdc: Cdc, *, status: str = "submitted", lines: int = 2) -> Transaction:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1, status=status)),
        *(Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(30 + n, 21, n, f"SKU-{n}")) for n in range(1, lines + 1)),
    ])


def _left(harness: Harness) -> dict[str, object]:
    """What the join holds of transactions (not the mark of the latest END it handled)."""
    return {k: v for k, v in harness.store("tx").items() if k != ENDED}


def creates(harness: Harness) -> list[tuple[str, list[str]]]:
    return [(c.key, [line["sku"] for line in c.payload["lines"]])
            for c in harness.commands() if c.kind == ("erp", "SalesOrder", "create")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_an_order_goes_once_its_header_lines_and_end_have_all_arrived_in_any_order(
        harness: Harness, cdc: Cdc, order: tuple[int, ...]) -> None:
    linked_customer(harness, cdc)
    tx = order_tx(cdc)
    parts: list[Rec] = [*tx.changes, tx.end]
    harness.feed(tx.begin)
    for step, index in enumerate(order):
        harness.feed(parts[index])
        if step < len(parts) - 1:
            assert creates(harness) == [], f"sent after only {step + 1} of 4 parts"
    assert creates(harness) == [(NUMBER, ["SKU-1", "SKU-2"])]
    assert _left(harness) == {"queue": {"txs": []}}


def test_a_transaction_that_also_touches_other_tables_is_joined_on_the_order_tables_only(
        harness: Harness, cdc: Cdc) -> None:
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))])
    harness.feed(customer.in_order, cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))
    tx = cdc.crm_transaction([
        Change(CRM_CUSTOMERS, "u", before=crm_customer(1, "C-000001"), after=crm_customer(1, "C-000001", name="New")),
        Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1")),
    ], extra={"crm.contacts": 3})
    harness.feed(tx.end, tx.changes[2], tx.changes[0])
    assert creates(harness) == []
    harness.feed(tx.changes[1])
    assert creates(harness) == [(NUMBER, ["SKU-1"])]


def test_a_transaction_of_other_tables_only_is_not_held(harness: Harness, cdc: Cdc) -> None:
    tx = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))], extra={"crm.contacts": 1})
    harness.feed(tx.in_order)
    assert _left(harness) == {}
    assert harness.store("parties")["C-000001"]["crm"]["name"] == "Harbour Trading"


def test_a_later_transaction_waits_for_an_earlier_one_of_the_same_order(harness: Harness, cdc: Cdc) -> None:
    """T1 writes a draft with its lines, T2 submits it: T2 arriving whole first must not send an order
    without lines; once T1 is complete the order goes with T1's lines and T2's status."""
    linked_customer(harness, cdc)
    draft = order_tx(cdc, status="draft")
    submit = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1, status="draft"),
                                         after=crm_order(21, NUMBER, 1, status="submitted"))])
    harness.feed(draft.begin, draft.end, draft.changes[0], submit.in_order)
    assert creates(harness) == []
    harness.feed(draft.changes[1])
    assert creates(harness) == []
    harness.feed(draft.changes[2])
    assert creates(harness) == [(NUMBER, ["SKU-1", "SKU-2"])]
    assert harness.commands()[0].payload["status"] == "submitted"


def test_a_transaction_whose_changes_never_come_is_dead_lettered_and_does_not_block_the_next(
        harness: Harness, cdc: Cdc) -> None:
    linked_customer(harness, cdc)
    lost = order_tx(cdc)
    later = cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(22, "SO-000022", 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(41, 22, 1, "SKU-9")),
    ])
    harness.feed(lost.begin, lost.changes[0], lost.changes[1], lost.end)  # its second line is never captured
    harness.feed(later.in_order)
    assert creates(harness) == [("SO-000022", ["SKU-9"])]
    reasons = [d.reason for d in harness.dead_letters]
    assert len(reasons) == 2 and all("IncompleteTransaction" in r and "crm.sales_order_lines" in r for r in reasons)
    assert {d.record.topic for d in harness.dead_letters} == {CRM_SALES_ORDERS, CRM_SALES_ORDER_LINES}
    assert all(d.stage == "flow.isthmus-orders" for d in harness.dead_letters)


def test_a_snapshot_read_order_is_never_sent(harness: Harness, cdc: Cdc) -> None:
    """A snapshot cannot tell whether all of an order's lines were read: such an order is history."""
    linked_customer(harness, cdc)
    harness.feed(cdc.crm_read(CRM_SALES_ORDERS, crm_order(21, NUMBER, 1)),
                 cdc.crm_read(CRM_SALES_ORDER_LINES, crm_line(31, 21, 1, "SKU-1")))
    assert creates(harness) == []
    assert harness.store("documents")[NUMBER]["crm"]["order_number"] == NUMBER


def test_each_change_of_a_joined_transaction_is_decoded_once(
        harness: Harness, cdc: Cdc, monkeypatch: pytest.MonkeyPatch) -> None:
    """The join decodes a change to see its transaction; the step that uses it when the transaction ends takes
    that event back (:mod:`streams.flows.kept`) rather than decoding the record again (issue 17)."""
    from streams.flows.orders import flow as orders_flow

    linked_customer(harness, cdc)
    decoded: list[tuple[str, int]] = []
    real = orders_flow.decode

    def counting(value: bytes | None, key: bytes | None, *, topic: str, where: str = "") -> object:
        decoded.append((topic, len(value or b"")))
        return real(value, key, topic=topic, where=where)

    monkeypatch.setattr(orders_flow, "decode", counting)
    tx = order_tx(cdc)
    harness.feed(tx.begin, *tx.changes, tx.end)
    assert creates(harness) == [(NUMBER, ["SKU-1", "SKU-2"])]
    changes = [topic for topic, _ in decoded if topic in (CRM_SALES_ORDERS, CRM_SALES_ORDER_LINES)]
    assert sorted(changes) == sorted([CRM_SALES_ORDERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDER_LINES])


def test_a_line_deleted_under_a_key_only_identity_leaves_its_order(harness: Harness, cdc: Cdc) -> None:
    """sales_order_lines keeps PostgreSQL's default replica identity (systems/crm.columns.yaml): a delete carries
    the line's key and the NOT NULL columns' zero values, order_id 0 among them. The flow remembers which order
    each line was filed under, so the deleted line leaves it (a new user's draft lost a line in the CRM and the
    ERP still got three)."""
    linked_customer(harness, cdc)
    draft = order_tx(cdc, status="draft", lines=3)
    harness.feed(*draft.in_order)
    gone = {"id": 33, "order_id": 0, "line_no": 0, "sku": "", "quantity": decimal("0", 3),
            "unit_price": decimal("0", 2)}
    harness.feed(*cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "d", before=gone)]).in_order)
    submitted = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, NUMBER, 1, status="draft"),
                                            after=crm_order(21, NUMBER, 1))])
    harness.feed(*submitted.in_order)
    assert creates(harness) == [(NUMBER, ["SKU-1", "SKU-2"])]
    # a delete of a line the flow never saw changes nothing
    harness.feed(*cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "d", before={**gone, "id": 99})]).in_order)
