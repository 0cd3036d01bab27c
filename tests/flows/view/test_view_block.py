"""The ``view`` block: the customer-360 view joined from canonical records (flows/customer360.yaml) under
LocalRun, with the values the orders flow computed before (owners' values as the customer flow published
them, orders and invoices newest first, invoiced minus paid, lifetime value, latest times), only when it
changed; and a made-up configuration (other topics and part names) through the same code."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical.lineage import Lineage
from streams.flows.engine.local import LocalRun
from streams.flows.exceptions import FlowFileError
from streams.flows.files import FLOWS_DIR, FlowFile, load_flow_files
from streams.flows.view import ViewFlow, read_config

pytestmark = pytest.mark.unit

T = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
NUMBER = "C-000001"
P = "isthmus.canonical."


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


def _lineage(at: dt.datetime) -> dict[str, bytes]:
    return Lineage(system="ledger", table="t", key="k", commit_time=at, change="c", topic="t", partition=0, offset=0,
                   mapping_version="m@1").headers()


class Feeder:
    def __init__(self, flow: ViewFlow, schemas: SchemaStore) -> None:
        self.run = LocalRun(flow.spec())
        self.schemas = schemas
        self.topic = flow.config.topic

    def feed(self, topic: str, record: str, value: dict[str, Any], at: dt.datetime = T) -> list[dict[str, Any]]:
        seen = len(self.run.context.emitted)
        incoming = dataclasses.replace(self.run.record(topic, b"k", self.schemas.encode(record, value)),
                                       headers=tuple(_lineage(at).items()))
        asyncio.run(self.run.feed([incoming]))
        assert self.run.context.dead_letters == []
        return [dict(self.schemas.decode(e.value, P + "Customer360").value)
                for e in self.run.context.emitted[seen:] if e.topic == self.topic and e.value is not None]


def customer(**extra: Any) -> dict[str, Any]:
    return {"customer_number": NUMBER, "crm_customer_id": 1, "erp_account_id": 11, "name": "Harbour Trading",
            "credit_limit": Decimal("5000.00"), "updated_at": T, **extra}


def invoice(invoice_id: int, amount: str, days: int = 0, **extra: Any) -> dict[str, Any]:
    return {"invoice_id": invoice_id, "invoice_no": f"I{invoice_id}", "erp_order_id": 41, "erp_account_id": 11,
            "customer_number": NUMBER, "amount": Decimal(amount), "issued_at": T + dt.timedelta(days=days),
            "due_date": dt.date(2026, 4, 1), "order_number": "SO-000021", **extra}


def payment(payment_id: int, amount: str, **extra: Any) -> dict[str, Any]:
    return {"payment_id": payment_id, "invoice_id": 51, "erp_account_id": 11, "customer_number": NUMBER,
            "amount": Decimal(amount), "paid_at": T, **extra}


def order(number: str, days: int, status: str = "reserved") -> dict[str, Any]:
    return {"order_number": number, "customer_number": NUMBER, "erp_order_id": 41, "status": status,
            "ordered_at": T + dt.timedelta(days=days), "updated_at": T + dt.timedelta(days=days),
            "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": Decimal("1.000"), "unit_price": Decimal("2.00")}]}


def account() -> dict[str, Any]:
    return {"account_id": 11, "account_code": "AC-000001", "crm_customer_number": NUMBER, "name": "Harbour ERP",
            "blocked": False, "active": True}


def _reference(schemas: SchemaStore) -> ViewFlow:
    (flow,) = [f for f in load_flow_files(FLOWS_DIR, env={}) if f.block == "view"]
    return ViewFlow(schemas=schemas, config=read_config(flow, schemas.schemas.named), name=flow.name)


def test_the_customer_360_view_joins_the_canonical_records_of_a_customer(schemas: SchemaStore) -> None:
    view = Feeder(_reference(schemas), schemas)
    assert view.feed(P + "invoices", P + "Invoice", invoice(51, "120.00")) == []  # no customer yet: no view
    (first,) = view.feed(P + "customers", P + "Customer", customer())
    assert first["customer"]["name"] == "Harbour Trading" and first["customer"]["credit_limit"] == Decimal("5000.00")
    assert first["open_balance"] == first["customer"]["open_balance"] == Decimal("120.00")
    later = T + dt.timedelta(days=5)
    (with_account,) = view.feed(P + "accounts", P + "Account", account(), at=later)
    assert with_account["account"]["account_id"] == 11 and with_account["account"]["updated_at"] == later
    assert with_account["updated_at"] == later
    for n, days in ((1, 1), (3, 3), (2, 2)):
        view.feed(P + "reconciled-orders", P + "SalesOrder", order(f"SO-00000{n}", days))
    (paid,) = view.feed(P + "payments", P + "Payment", payment(61, "20.00"))
    assert [o["order_number"] for o in paid["orders"]] == ["SO-000003", "SO-000002", "SO-000001"]
    assert paid["orders"][0]["lines"][0]["sku"] == "SKU-1" and paid["orders"][0]["status"] == "reserved"
    assert paid["last_order_at"] == T + dt.timedelta(days=3)
    assert paid["open_balance"] == paid["customer"]["open_balance"] == Decimal("100.00")
    view.feed(P + "invoices", P + "Invoice", invoice(52, "5.50", days=1))
    view.feed(P + "invoices", P + "Invoice", invoice(53, "99.00"))
    (dropped,) = view.feed(P + "invoices", P + "Invoice", invoice(53, "99.00", deleted=True))
    assert [i["invoice_id"] for i in dropped["invoices"]] == [52, 51]
    assert dropped["lifetime_value"] == Decimal("125.50") and dropped["open_balance"] == Decimal("105.50")
    assert view.feed(P + "invoices", P + "Invoice", invoice(53, "99.00", deleted=True)) == []  # unchanged: quiet
    assert view.run.context.emitted[-1].key == NUMBER.encode()


MADE_UP = """\
name: buyer-card
block: view
view:
  record: isthmus.canonical.Customer360
  topic: cards.buyers
  key: customer_number
  parts:
    master: {topic: buyers, field: customer, required: true}
    bills: {topic: bills, list: invoices, key: invoice_id, newest_first: issued_at}
  totals:
    lifetime_value: {add: [bills.amount]}
  updated: updated_at
"""


def _file(tmp_path: Path, text: str) -> FlowFile:
    (tmp_path / "card.yaml").write_text(text, encoding="utf-8")
    (flow,) = load_flow_files(tmp_path, env={})
    return flow


def test_a_made_up_configuration_runs_through_the_same_code(tmp_path: Path, schemas: SchemaStore) -> None:
    config = read_config(_file(tmp_path, MADE_UP), schemas.schemas.named, prefix="shop.canon")
    flow = ViewFlow(schemas=schemas, config=config, name="buyer-card")
    assert flow.spec().inputs == ("shop.canon.buyers", "shop.canon.bills")
    assert flow.spec().outputs == ("cards.buyers",)
    view = Feeder(flow, schemas)
    (first,) = view.feed("shop.canon.buyers", P + "Customer", customer(), at=T)
    assert first["lifetime_value"] is None and first["updated_at"] == T  # lineage time: the part names no `time:`
    (billed,) = view.feed("shop.canon.bills", P + "Invoice", invoice(51, "7.00"), at=T + dt.timedelta(hours=1))
    assert billed["lifetime_value"] == Decimal("7.00") and billed["invoices"][0]["invoice_no"] == "I51"
    assert billed["updated_at"] == T + dt.timedelta(hours=1)


def test_section_mistakes_name_line_field_and_fix(tmp_path: Path, schemas: SchemaStore) -> None:
    text = MADE_UP.replace("key: customer_number", "key: client").replace(
        "field: customer,", "field: customer, list: orders,").replace("add: [bills.amount]", "add: [fees.amount]")
    with pytest.raises(FlowFileError) as raised:
        read_config(_file(tmp_path, text), schemas.schemas.named)
    found = {(p.line, p.field): (p.message, p.fix) for p in raised.value.problems}
    assert "has no field 'client'" in found[(6, "view.key")][0]
    assert "one field or one list" in found[(8, "view.parts.master.field")][0]
    assert "'fees.amount' is not <part>.<field>" in found[(11, "view.totals.lifetime_value.add")][0]
