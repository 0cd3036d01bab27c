"""Every command of an order's life and of a balance has a route in targets/*.yaml, and the sinks' own rendering
turns it into the request the reference API expects (only the changed fields for an ``only_changed`` route)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from order_events import (
    Cdc,
    Change,
    crm_customer,
    crm_line,
    crm_order,
    erp_account,
    erp_invoice,
    erp_order,
    erp_payment,
)
from order_harness import Harness, Sent

from reference.topics import (
    CRM_CUSTOMERS,
    CRM_SALES_ORDER_LINES,
    CRM_SALES_ORDERS,
    ERP_ACCOUNTS,
    ERP_INVOICES,
    ERP_PAYMENTS,
    ERP_SALES_ORDERS,
)
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.mapping import placeholders, render_fields
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import HttpRoute

TARGETS = Path(__file__).resolve().parents[3] / "targets"


def rendered(sent: Sent, schemas: SchemaStore) -> tuple[str, str, str, Any]:
    target = load_target(TARGETS / f"{sent.record['target']}.yaml", schemas.schemas)
    route = target.route(sent.record["payload_type"], sent.record["operation"])
    assert isinstance(route, HttpRoute), f"targets/{sent.record['target']}.yaml has no route for {sent.kind}"
    for name in placeholders(route.path):
        assert sent.payload.get(name) is not None or name in route.lookups, (sent.kind, name)
    include = frozenset(sent.record["changed_fields"]) if route.only_changed and sent.record["changed_fields"] \
        else None
    if route.only_changed:
        assert include, f"{sent.kind}: an only_changed route without changed fields would send everything"
    body = render_fields(route.body, sent.payload, {}, include=include) if route.body else None
    return route.method, route.path, sent.record["operation"], body


def test_every_command_of_an_order_to_cash_renders_through_its_route(harness: Harness, cdc: Cdc) -> None:
    def crm_order_update(before: str, after: str, erp_order_id: int | None) -> list[Any]:
        return cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(21, "SO-000021", 1, status=before),
                                           after=crm_order(21, "SO-000021", 1, status=after,
                                                           erp_order_id=erp_order_id))]).in_order

    harness.feed(
        cdc.crm_transaction([Change(CRM_CUSTOMERS, "c", after=crm_customer(1, "C-000001"))]).in_order,
        cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, "C-000001")),
        cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-000021", 1)),
                             Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(31, 21, 1, "SKU-1"))]).in_order,
        cdc.erp(ERP_SALES_ORDERS, "c", after=erp_order(41, "SO-000021", 11)),
        crm_order_update("submitted", "reserved", 41),
        cdc.erp(ERP_INVOICES, "c", after=erp_invoice(51, 41, 11, "60.00")),
        cdc.erp(ERP_PAYMENTS, "c", after=erp_payment(61, 51, 11, "60.00")),
        crm_order_update("reserved", "cancelled", 41),
    )
    bodies = [rendered(sent, harness.schemas) for sent in harness.commands()]
    assert bodies == [
        ("POST", "/orders", "create", {
            "account_id": 11, "crm_order_number": "SO-000021", "order_date": "2026-03-10T06:30:00+00:00",
            "currency": "CNY",
            "lines": [{"sku": "SKU-1", "quantity": "2.000", "unit_price": "30.00"}]}),
        ("PATCH", "/orders/{order_number}", "update", {"status": "reserved", "erp_order_id": 41}),
        ("PATCH", "/customers/{customer_number}", "update", {"open_balance": "60.00"}),
        ("PATCH", "/customers/{customer_number}", "update", {"open_balance": "0.00"}),
        ("PATCH", "/orders/{erp_order_id}", "cancel", {"status": "cancelled"}),
    ]
