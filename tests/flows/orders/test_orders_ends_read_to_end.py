"""An END whose changes never come to the orders flow (handled before its consumer group read the transaction
topic, or filtered, or expired), on a table with no later change: the tick abandons it once that table's topic
is read to its end, and the transactions behind it go on; until then it waits."""

from __future__ import annotations

import pytest
from order_events import Cdc, Change, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.orders.txjoin import ABANDONED

pytestmark = pytest.mark.unit

NUMBER, OLD = "SO-000041", "SO-000040"


def _kinds(harness: Harness) -> list[tuple[tuple[str, str, str], str]]:
    return [(c.kind, c.key) for c in harness.commands()]


def _queued_behind_an_old_end(harness: Harness, cdc: Cdc) -> list[tuple[tuple[str, str, str], str]]:
    """Order NUMBER made, then an old END (a header change handled before) and a line added to NUMBER in a later
    transaction: no later header change comes to abandon the old END, so the line waits behind it."""
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))])
    harness.feed(customer.in_order, cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))
    made = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
                                Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))])
    harness.feed(made.in_order)
    before = _kinds(harness)
    assert (("erp", "SalesOrder", "create"), NUMBER) in before
    old = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(20, OLD, 1))])
    line = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(32, 21, 2, "SKU-2"))])
    harness.feed(old.end, *line.changes, line.end)
    assert _kinds(harness) == before  # the line waits behind the old END
    return before


def _queue(harness: Harness) -> list[str]:
    return list(harness.store("tx").get("queue", {}).get("txs", []))


def test_an_old_end_is_abandoned_once_its_tables_are_read_to_their_end(harness: Harness, cdc: Cdc) -> None:
    _queued_behind_an_old_end(harness, cdc)
    assert len(_queue(harness)) == 2
    harness.run.tick(read_to_end=(CRM_SALES_ORDERS, CRM_SALES_ORDER_LINES))
    assert _queue(harness) == [] and not any(k.startswith(("tx:", "ev:")) for k in harness.store("tx"))
    assert harness.run.context.counts[ABANDONED] == 1 and harness.dead_letters == []


def test_an_old_end_waits_while_its_table_is_not_read_to_its_end(harness: Harness, cdc: Cdc) -> None:
    _queued_behind_an_old_end(harness, cdc)
    harness.run.tick(read_to_end=(CRM_SALES_ORDER_LINES,))
    assert len(_queue(harness)) == 2 and harness.run.context.counts[ABANDONED] == 0
    harness.run.tick()  # every input read to its end
    assert _queue(harness) == [] and harness.run.context.counts[ABANDONED] == 1
