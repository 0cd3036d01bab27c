"""Columns read from CREATE TABLE statements: names, types, nullability and allowed values."""

from __future__ import annotations

from streams.mapping.sql_columns import parse_tables, reference_tables

SQL = """
-- a comment, with a comma, and (parentheses)
CREATE TABLE IF NOT EXISTS shop.orders (
    id          BIGSERIAL PRIMARY KEY,
    note        TEXT,            -- nullable
    amount      NUMERIC(14, 2) NOT NULL DEFAULT 0,
    status      TEXT NOT NULL CHECK (status IN ('new', 'done')),
    kind        ENUM('a', 'b,c') NOT NULL,
    at          TIMESTAMP WITH TIME ZONE,
    UNIQUE (note, amount),
    CONSTRAINT positive CHECK (amount >= 0)
);
CREATE TABLE `lines` (`order_id` INT NOT NULL, qty DECIMAL(14,3), PRIMARY KEY (order_id));
"""


def test_columns_types_nullability_and_lines() -> None:
    tables = parse_tables(SQL)
    orders = tables["orders"].columns
    assert list(orders) == ["id", "note", "amount", "status", "kind", "at"]
    assert not orders["id"].nullable and orders["note"].nullable and not orders["amount"].nullable
    assert orders["amount"].sql_type == "NUMERIC" and orders["amount"].args == ("14", "2")
    assert orders["status"].allowed == ("new", "done") and orders["kind"].allowed == ("a", "b,c")
    assert orders["at"].sql_type == "TIMESTAMP WITH TIME ZONE"
    assert orders["id"].line == 4 and orders["at"].line == 9
    assert list(tables["lines"].columns) == ["order_id", "qty"]


def test_reference_schemas_parse() -> None:
    crm, erp = reference_tables("crm"), reference_tables("erp")
    assert {"customers", "contacts", "addresses", "products", "sales_orders", "sales_order_lines"} <= set(crm)
    assert {"accounts", "stock", "sales_orders", "invoices", "payments", "shipments"} <= set(erp)
    assert erp["sales_orders"].columns["order_date"].sql_type == "DATETIME"
    assert crm["sales_orders"].columns["status"].allowed is not None
