"""What each captured source table becomes in the warehouse: its target table, key and cleaned columns.

A source column not named here (a column added to the source later) does not break the load: it is kept,
JSON-encoded, in the row's ``attributes``. A named column that is missing or invalid rejects the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.codecs.local_time import Ambiguous, Nonexistent
from streams.flows import topics
from streams.warehouse import cleaning as c
from streams.warehouse.exceptions import RowRejected

#: Bump when a rule below changes what a source row becomes; every row records the version that shaped it.
MAPPING_VERSION = "warehouse-1"


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Settings the rules need: the ERP's zone (with its DST policies) and the client-code prefix."""

    erp_time_zone: str
    client_code_prefix: str
    nonexistent: Nonexistent = Nonexistent.RAISE
    ambiguous: Ambiguous = Ambiguous.RAISE

    def erp_time(self, row: Mapping[str, Any], column: str) -> Any:
        return c.local_time(row.get(column), column, self.erp_time_zone, nonexistent=self.nonexistent,
                            ambiguous=self.ambiguous)


Build = Callable[[Mapping[str, Any], Rules], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    system: str
    table: str
    target: str
    #: Target columns that identify a row (the source's primary key, mapped).
    key: tuple[str, ...]
    #: The source's primary-key columns, in the order of ``key`` (a delete carries only these).
    source_key: tuple[str, ...]
    #: Source columns the build reads; every other source column goes to ``attributes``.
    consumed: frozenset[str]
    build: Build
    #: A fact whose transaction_time comes from another fact (order lines from their order header).
    inherits_time_from: str | None = None

    @property
    def topic(self) -> str:
        return topics.cdc_topic(self.system, self.table)


def _with_date(values: dict[str, Any]) -> dict[str, Any]:
    values["date_key"] = c.date_key(values["transaction_time"])
    return values


def _client(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    customer_id = c.integer(row.get("id"), "id")
    return {
        "crm_customer_id": customer_id,
        "client_code": f"{rules.client_code_prefix}{customer_id}",
        "customer_number": c.text(row.get("customer_number"), "customer_number", required=True),
        "name": c.text(row.get("name"), "name", required=True),
        "email": c.email(row.get("email"), "email"),
        "phone": c.phone(row.get("phone"), "phone"),
        "erp_account_id": c.integer(row.get("erp_account_id"), "erp_account_id", required=False),
        "credit_limit": c.number(row.get("credit_limit"), "credit_limit", required=False),
        "payment_terms": c.text(row.get("payment_terms"), "payment_terms"),
        "blocked": c.boolean(row.get("blocked"), "blocked"),
        "open_balance": c.number(row.get("open_balance"), "open_balance", required=False),
        "created_at": c.instant(row["created_at"], "created_at") if row.get("created_at") else None,
    }


def _account(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "erp_account_id": c.integer(row.get("account_id"), "account_id"),
        "account_code": c.text(row.get("account_code"), "account_code", required=True),
        "name": c.text(row.get("name"), "name", required=True),
        "email": c.email(row.get("email"), "email"),
        "phone": c.phone(row.get("phone"), "phone"),
        "crm_customer_number": c.text(row.get("crm_customer_number"), "crm_customer_number"),
        "credit_limit": c.number(row.get("credit_limit"), "credit_limit", required=False),
        "payment_terms": c.text(row.get("payment_terms"), "payment_terms"),
        "blocked": c.boolean(row.get("blocked"), "blocked"),
        "active": c.boolean(row.get("active"), "active"),
    }


def _product(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "sku": c.text(row.get("sku"), "sku", required=True),
        "description": c.text(row.get("description"), "description", required=True),
        "unit_price": c.number(row.get("unit_price"), "unit_price"),
        "uom": c.text(row.get("uom"), "uom"),
    }


def _stock(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return {
        "sku": c.text(row.get("sku"), "sku", required=True),
        "warehouse_code": c.text(row.get("warehouse_code"), "warehouse_code", required=True),
        "on_hand": c.number(row.get("on_hand"), "on_hand"),
        "reserved": c.number(row.get("reserved"), "reserved"),
    }


def _crm_order(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "crm_order_id": c.integer(row.get("id"), "id"),
        "order_number": c.text(row.get("order_number"), "order_number", required=True),
        "crm_customer_id": c.integer(row.get("customer_id"), "customer_id"),
        "status": c.text(row.get("status"), "status", required=True),
        "currency": c.text(row.get("currency"), "currency", required=True),
        "total_amount": c.number(row.get("total_amount"), "total_amount"),
        "transaction_time": c.instant(row.get("ordered_at"), "ordered_at"),
    })


def _sales_order(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "order_id": c.integer(row.get("order_id"), "order_id"),
        "order_no": c.text(row.get("order_no"), "order_no", required=True),
        "account_id": c.integer(row.get("account_id"), "account_id"),
        "crm_order_number": c.text(row.get("crm_order_number"), "crm_order_number"),
        "status": c.text(row.get("status"), "status", required=True),
        "currency": c.text(row.get("currency"), "currency", required=True),
        "total_amount": c.number(row.get("total_amount"), "total_amount"),
        "transaction_time": rules.erp_time(row, "order_date"),
    })


def _order_line(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    quantity = c.number(row.get("quantity"), "quantity")
    if quantity is not None and quantity <= 0:
        raise RowRejected(f"quantity {quantity} is not positive")
    return {
        "order_id": c.integer(row.get("order_id"), "order_id"),
        "line_no": c.integer(row.get("line_no"), "line_no"),
        "sku": c.text(row.get("sku"), "sku", required=True),
        "warehouse_code": c.text(row.get("warehouse_code"), "warehouse_code", required=True),
        "quantity": quantity,
        "unit_price": c.number(row.get("unit_price"), "unit_price"),
    }


def _invoice(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "invoice_id": c.integer(row.get("invoice_id"), "invoice_id"),
        "invoice_no": c.text(row.get("invoice_no"), "invoice_no", required=True),
        "order_id": c.integer(row.get("order_id"), "order_id"),
        "account_id": c.integer(row.get("account_id"), "account_id"),
        "amount": c.number(row.get("amount"), "amount"),
        "transaction_time": rules.erp_time(row, "issued_at"),
        "due_date": c.date(row.get("due_date"), "due_date"),
        "status": c.text(row.get("status"), "status", required=True),
    })


def _payment(row: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    return _with_date({
        "payment_id": c.integer(row.get("payment_id"), "payment_id"),
        "invoice_id": c.integer(row.get("invoice_id"), "invoice_id"),
        "account_id": c.integer(row.get("account_id"), "account_id"),
        "amount": c.number(row.get("amount"), "amount"),
        "transaction_time": rules.erp_time(row, "paid_at"),
    })


TABLES: tuple[TableSpec, ...] = (
    TableSpec(system="crm", table="customers", target="dim_client",
              key=("crm_customer_id",), source_key=("id",),
              build=_client,
              consumed=frozenset({"id", "customer_number", "name", "email", "phone", "erp_account_id",
                                  "credit_limit", "payment_terms", "blocked", "open_balance", "created_at"})),
    TableSpec(system="erp", table="accounts", target="dim_account",
              key=("erp_account_id",), source_key=("account_id",),
              build=_account,
              consumed=frozenset({"account_id", "account_code", "name", "email", "phone", "crm_customer_number",
                                  "credit_limit", "payment_terms", "blocked", "active"})),
    TableSpec(system="erp", table="products", target="dim_product",
              key=("sku",), source_key=("sku",),
              build=_product,
              consumed=frozenset({"sku", "description", "unit_price", "uom"})),
    TableSpec(system="erp", table="stock", target="fact_stock",
              key=("sku", "warehouse_code"), source_key=("sku", "warehouse_code"),
              build=_stock,
              consumed=frozenset({"sku", "warehouse_code", "on_hand", "reserved"})),
    TableSpec(system="crm", table="sales_orders", target="fact_crm_order",
              key=("crm_order_id",), source_key=("id",),
              build=_crm_order, consumed=frozenset({"id", "order_number", "customer_id", "status", "currency",
                                                    "total_amount", "ordered_at"})),
    TableSpec(system="erp", table="sales_orders", target="fact_sales_order",
              key=("order_id",), source_key=("order_id",),
              build=_sales_order, consumed=frozenset({"order_id", "order_no", "account_id", "crm_order_number",
                                                      "status", "currency", "total_amount", "order_date"})),
    TableSpec(system="erp", table="sales_order_lines", target="fact_order_line",
              key=("order_id", "line_no"), source_key=("order_id", "line_no"),
              build=_order_line, inherits_time_from="fact_sales_order",
              consumed=frozenset({"order_id", "line_no", "sku", "warehouse_code", "quantity", "unit_price"})),
    TableSpec(system="erp", table="invoices", target="fact_invoice",
              key=("invoice_id",), source_key=("invoice_id",),
              build=_invoice,
              consumed=frozenset({"invoice_id", "invoice_no", "order_id", "account_id", "amount", "issued_at",
                                  "due_date", "status"})),
    TableSpec(system="erp", table="payments", target="fact_payment",
              key=("payment_id",), source_key=("payment_id",),
              build=_payment,
              consumed=frozenset({"payment_id", "invoice_id", "account_id", "amount", "paid_at"})),
)

BY_TOPIC: dict[str, TableSpec] = {spec.topic: spec for spec in TABLES}
