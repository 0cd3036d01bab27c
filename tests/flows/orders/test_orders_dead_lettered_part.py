"""A change of an order's transaction that the orders flow dead-letters itself (a header it cannot decode, e.g.
``ordered_at='infinity'``): the transaction's other changes, abandoned without it, say that it was dead-lettered
and why, instead of guessing that it was handled before, filtered out or expired."""

from __future__ import annotations

import pytest
from order_events import Cdc, Change, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.orders.txjoin import ABANDONED

pytestmark = pytest.mark.unit

NUMBER = "SO-990001"


def _order_with_a_header_it_cannot_read(harness: Harness, cdc: Cdc) -> None:
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))])
    harness.feed(customer.in_order, cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))
    made = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1, ordered_at="infinity")),
                                Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))])
    harness.feed(made.in_order)


def test_lines_of_a_dead_lettered_header_name_its_dead_letter_and_reason(harness: Harness, cdc: Cdc) -> None:
    _order_with_a_header_it_cannot_read(harness, cdc)
    [header] = harness.dead_letters
    assert header.record.topic == CRM_SALES_ORDERS and "invalid ZonedTimestamp 'infinity'" in header.reason
    harness.run.tick(read_to_end=(CRM_SALES_ORDERS, CRM_SALES_ORDER_LINES))
    assert harness.run.context.counts[ABANDONED] == 1
    [_, line] = harness.dead_letters
    assert line.record.topic == CRM_SALES_ORDER_LINES
    assert (f"missing its changes of crm.sales_orders (its change of crm.sales_orders was dead-lettered by this flow "
            f"(FieldDecodeError: {header.record.position} after.ordered_at: invalid ZonedTimestamp") in line.reason
    assert "`isthmus topics dlq list`" in line.reason
    assert "handled before" not in line.reason
    assert not any(k.startswith(("tx:", "ev:")) for k in harness.store("tx"))
    assert not any(c.key == NUMBER for c in harness.commands())
