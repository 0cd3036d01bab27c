"""An END whose changes the flow used long ago (a consumer group that reads the transaction topic from its start
while its table topics resume where they were) is abandoned at once when it arrives after a change of a
transaction committed later, instead of holding that transaction back for ever."""

from __future__ import annotations

import dataclasses

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness
from support.commits import after_commit_of

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.orders.txjoin import ABANDONED, ENDED

NUMBER, OLD = "SO-000031", "SO-000030"


def _creates(harness: Harness) -> list[str]:
    return [c.key for c in harness.commands() if c.kind == ("erp", "SalesOrder", "create")]


def test_an_old_end_after_a_newer_change_does_not_hold_it_back(harness: Harness, cdc: Cdc) -> None:
    customer = cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))])
    harness.feed(customer.in_order, cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")))
    old = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(20, OLD, 1)),
                               Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(29, 20, 1, "SKU-0"))])
    new = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, NUMBER, 1)),
                               Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))])
    streamed: list[Rec] = [dataclasses.replace(c, value=after_commit_of(c.value, old.end.value)) for c in new.changes]
    harness.feed(*streamed, old.end, new.end)  # the old transaction's changes were used before
    assert _creates(harness) == [NUMBER]
    assert {k: v for k, v in harness.store("tx").items() if k != ENDED} == {"queue": {"txs": []}, **_floors(harness)}
    assert harness.run.context.dead_letters == []
    assert harness.run.context.counts[ABANDONED] == 1


def _floors(harness: Harness) -> dict[str, object]:
    return {k: v for k, v in harness.store("tx").items() if k.startswith("floor:")}
