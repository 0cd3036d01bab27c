"""What each canonical topic becomes in the warehouse: its target table(s), key and cleaned columns.

The loader reads canonical records (Avro, single-object encoding) that the flows published with their
lineage (:mod:`streams.flows.canonical.lineage`); times are UTC already (the canonical mappings converted
the ERP's local times). A field of the canonical type not named in ``consumed`` (a field added to the schema
later) does not break the load: it is kept, JSON-encoded, in the row's ``attributes``. A named field that
is missing or invalid rejects the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.flows import topics
from streams.warehouse import cleaning as c
from streams.warehouse.exceptions import RowRejected


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Settings the rules need: the client-code prefix."""

    client_code_prefix: str


Build = Callable[[Mapping[str, Any], Rules], dict[str, Any]]


def _always(record: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    #: The canonical topic's name (``<prefix>.<name>``) and the Avro type published there.
    name: str
    schema: str
    target: str
    #: Target columns that identify a row.
    key: tuple[str, ...]
    #: Canonical fields the build reads; every other field goes to ``attributes``.
    consumed: frozenset[str]
    build: Build
    #: Whether a record makes a row of this table at all (a customer without a CRM id is no client yet).
    applies: Callable[[Mapping[str, Any]], bool] = _always
    #: Whether a record marks its row deleted (default: the canonical ``deleted`` field).
    deleted: Callable[[Mapping[str, Any]], bool] = lambda record: bool(record.get("deleted"))
    #: A fact whose transaction_time comes from another fact (order lines from their order header).
    inherits_time_from: str | None = None

    def topic(self, prefix: str = topics.CANONICAL_PREFIX) -> str:
        return topics.canonical_topic(self.name, prefix)


def _with_date(values: dict[str, Any]) -> dict[str, Any]:
    values["date_key"] = c.date_key(values["transaction_time"])
    return values


def _client(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    customer_id = c.integer(r.get("crm_customer_id"), "crm_customer_id")
    return {
        "crm_customer_id": customer_id,
        "client_code": f"{rules.client_code_prefix}{customer_id}",
        "customer_number": c.text(r.get("customer_number"), "customer_number", required=True),
        "name": c.text(r.get("name"), "name", required=True),
        "email": c.email(r.get("email"), "email"),
        "phone": c.phone(r.get("phone"), "phone"),
        "erp_account_id": c.integer(r.get("erp_account_id"), "erp_account_id", required=False),
        "credit_limit": c.number(r.get("credit_limit"), "credit_limit", required=False),
        "payment_terms": c.text(r.get("payment_terms"), "payment_terms"),
        "blocked": c.boolean(r.get("blocked"), "blocked"),
        "open_balance": c.number(r.get("open_balance"), "open_balance", required=False),
    }


def _account(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "erp_account_id": c.integer(r.get("erp_account_id"), "erp_account_id"),
        "account_code": c.text(r.get("account_code"), "account_code", required=True),
        "name": c.text(r.get("name"), "name", required=True),
        "email": c.email(r.get("email"), "email"),
        "phone": c.phone(r.get("phone"), "phone"),
        "crm_customer_number": c.text(r.get("customer_number"), "customer_number"),
        "credit_limit": c.number(r.get("credit_limit"), "credit_limit", required=False),
        "payment_terms": c.text(r.get("payment_terms"), "payment_terms"),
        "blocked": c.boolean(r.get("blocked"), "blocked"),
        "active": c.boolean(r.get("active"), "active"),
    }


def _product(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "sku": c.text(r.get("sku"), "sku", required=True),
        "description": c.text(r.get("description"), "description", required=True),
        "unit_price": c.number(r.get("unit_price"), "unit_price"),
        "uom": c.text(r.get("uom"), "uom"),
    }


def _stock(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "sku": c.text(r.get("sku"), "sku", required=True),
        "warehouse_code": c.text(r.get("warehouse_code"), "warehouse_code", required=True),
        "on_hand": c.number(r.get("on_hand"), "on_hand"),
        "reserved": c.number(r.get("reserved"), "reserved"),
    }


def _crm_order(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "crm_order_id": c.integer(r.get("crm_order_id"), "crm_order_id"),
        "order_number": c.text(r.get("order_number"), "order_number", required=True),
        "crm_customer_id": c.integer(r.get("crm_customer_id"), "crm_customer_id"),
        "status": c.text(r.get("status"), "status", required=True),
        "currency": c.text(r.get("currency"), "currency", required=True),
        "total_amount": c.number(r.get("total_amount"), "total_amount"),
        "transaction_time": c.instant(r.get("ordered_at"), "ordered_at"),
    })


def _sales_order(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "order_id": c.integer(r.get("erp_order_id"), "erp_order_id"),
        "order_no": c.text(r.get("erp_order_no"), "erp_order_no", required=True),
        "account_id": c.integer(r.get("erp_account_id"), "erp_account_id"),
        "crm_order_number": c.text(r.get("order_number"), "order_number"),
        "status": c.text(r.get("status"), "status", required=True),
        "currency": c.text(r.get("currency"), "currency", required=True),
        "total_amount": c.number(r.get("total_amount"), "total_amount"),
        "transaction_time": c.instant(r.get("ordered_at"), "ordered_at"),
    })


def _order_line(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    quantity = c.number(r.get("quantity"), "quantity")
    if quantity is not None and quantity <= 0:
        raise RowRejected(f"quantity {quantity} is not positive")
    return {
        "order_id": c.integer(r.get("erp_order_id"), "erp_order_id"),
        "line_no": c.integer(r.get("line_no"), "line_no"),
        "sku": c.text(r.get("sku"), "sku", required=True),
        "warehouse_code": c.text(r.get("warehouse_code"), "warehouse_code", required=True),
        "quantity": quantity,
        "unit_price": c.number(r.get("unit_price"), "unit_price"),
    }


def _invoice(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "invoice_id": c.integer(r.get("invoice_id"), "invoice_id"),
        "invoice_no": c.text(r.get("invoice_no"), "invoice_no", required=True),
        "order_id": c.integer(r.get("erp_order_id"), "erp_order_id"),
        "account_id": c.integer(r.get("erp_account_id"), "erp_account_id"),
        "amount": c.number(r.get("amount"), "amount"),
        "transaction_time": c.instant(r.get("issued_at"), "issued_at"),
        "due_date": c.date(r.get("due_date"), "due_date"),
        "status": c.text(r.get("status"), "status", required=True),
    })


def _payment(r: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "payment_id": c.integer(r.get("payment_id"), "payment_id"),
        "invoice_id": c.integer(r.get("invoice_id"), "invoice_id"),
        "account_id": c.integer(r.get("erp_account_id"), "erp_account_id"),
        "amount": c.number(r.get("amount"), "amount"),
        "transaction_time": c.instant(r.get("paid_at"), "paid_at"),
    })


def _inactive(record: Mapping[str, Any]) -> bool:
    """A CRM delete deactivates the customer (the canonical record stays, ``active`` false)."""
    return record.get("active") is False


TABLES: tuple[TableSpec, ...] = (
    TableSpec(name="customers", schema="isthmus.canonical.Customer", target="dim_client",
              key=("crm_customer_id",), build=_client, deleted=_inactive,
              applies=lambda r: r.get("crm_customer_id") is not None,
              consumed=frozenset({"crm_customer_id", "customer_number", "name", "email", "phone", "erp_account_id",
                                  "credit_limit", "payment_terms", "blocked", "open_balance"})),
    TableSpec(name="customers", schema="isthmus.canonical.Customer", target="dim_account",
              key=("erp_account_id",), build=_account, deleted=_inactive,
              applies=lambda r: r.get("erp_account_id") is not None and r.get("account_code") is not None,
              consumed=frozenset({"erp_account_id", "account_code", "name", "email", "phone", "customer_number",
                                  "credit_limit", "payment_terms", "blocked", "active"})),
    TableSpec(name="products", schema="isthmus.canonical.Product", target="dim_product",
              key=("sku",), build=_product,
              consumed=frozenset({"sku", "description", "unit_price", "uom", "deleted"})),
    TableSpec(name="stock", schema="isthmus.canonical.StockLevel", target="fact_stock",
              key=("sku", "warehouse_code"), build=_stock,
              consumed=frozenset({"sku", "warehouse_code", "on_hand", "reserved", "deleted"})),
    TableSpec(name="orders", schema="isthmus.canonical.SalesOrder", target="fact_crm_order",
              key=("crm_order_id",), build=_crm_order, deleted=lambda r: False,
              consumed=frozenset({"crm_order_id", "order_number", "crm_customer_id", "status", "currency",
                                  "total_amount", "ordered_at"})),
    TableSpec(name="erp-orders", schema="isthmus.canonical.ErpSalesOrder", target="fact_sales_order",
              key=("order_id",), build=_sales_order,
              consumed=frozenset({"erp_order_id", "erp_order_no", "erp_account_id", "order_number", "status",
                                  "currency", "total_amount", "ordered_at", "deleted"})),
    TableSpec(name="erp-order-lines", schema="isthmus.canonical.ErpSalesOrderLine", target="fact_order_line",
              key=("order_id", "line_no"), build=_order_line, inherits_time_from="fact_sales_order",
              consumed=frozenset({"erp_order_id", "line_no", "sku", "warehouse_code", "quantity", "unit_price",
                                  "deleted"})),
    TableSpec(name="invoices", schema="isthmus.canonical.Invoice", target="fact_invoice",
              key=("invoice_id",), build=_invoice,
              consumed=frozenset({"invoice_id", "invoice_no", "erp_order_id", "erp_account_id", "amount",
                                  "issued_at", "due_date", "status", "deleted"})),
    TableSpec(name="payments", schema="isthmus.canonical.Payment", target="fact_payment",
              key=("payment_id",), build=_payment,
              consumed=frozenset({"payment_id", "invoice_id", "erp_account_id", "amount", "paid_at", "deleted"})),
)

#: The canonical topic names the loader reads, each with the tables it feeds.
BY_NAME: dict[str, tuple[TableSpec, ...]] = {}
for _spec in TABLES:
    BY_NAME[_spec.name] = (*BY_NAME.get(_spec.name, ()), _spec)
