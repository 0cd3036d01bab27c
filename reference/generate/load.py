"""Bulk-loading generated records: COPY into the CRM, batched multi-row INSERTs into the ERP.

Every row the generator would write is checked against what is there first; a collision stops it before
anything is written, naming the row and the option that avoids it. The CRM gets customers, contacts,
addresses, products and orders; the ERP products, warehouses and stock (accounts are Isthmus's job).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

import psycopg

from reference.crm import database as crm_database
from reference.erp import database as erp_database
from reference.generate.data import (
    CustomerRecord,
    GenerationSpec,
    ProductRecord,
    StockRecord,
    customers,
    products,
    stock,
    warehouses,
)
from reference.generate.exceptions import DataCollision

T = TypeVar("T")
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class GenerationSummary:
    customers: int
    contacts: int
    addresses: int
    orders: int
    order_lines: int
    products: int
    warehouses: int
    stock_rows: int
    seconds: float

    def describe(self) -> str:
        return (f"CRM: {self.customers:,} customers, {self.contacts:,} contacts, "
                f"{self.addresses:,} addresses, {self.products:,} products, {self.orders:,} orders with "
                f"{self.order_lines:,} lines; ERP: {self.products:,} products, {self.warehouses} warehouses, "
                f"{self.stock_rows:,} stock rows; {self.seconds:.1f}s")


def _batches(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch


_TAKEN = {
    "products": "SELECT sku AS v FROM products WHERE sku = ANY(%s) LIMIT 1",
    "customers": "SELECT customer_number AS v FROM customers WHERE customer_number = ANY(%s) LIMIT 1",
    "sales_orders": "SELECT order_number AS v FROM sales_orders WHERE order_number = ANY(%s) LIMIT 1",
}


def _first_taken_crm(cur: psycopg.Cursor[Any], table: str, values: list[str]) -> str | None:
    row = cur.execute(_TAKEN[table], (values,)).fetchone()
    return None if row is None else str(row["v"] if isinstance(row, dict) else row[0])


def _check_erp(erp: Any, items: list[ProductRecord]) -> None:
    with erp.cursor() as cur:
        for batch in _batches(iter(items), 1000):
            cur.execute("SELECT sku FROM products WHERE sku IN %s LIMIT 1", ([p.sku for p in batch],))
            row = cur.fetchone()
            if row is not None:
                sku = row["sku"] if isinstance(row, dict) else row[0]
                raise DataCollision(f"product {sku} already exists in the ERP database; load into empty "
                                    "databases, or pass another --sku-prefix")
    erp.rollback()


def _sequence_ids(cur: psycopg.Cursor[Any], table: str, count: int) -> list[int]:
    rows = cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS n "
                       "FROM generate_series(1, %s)", (table, count)).fetchall()
    return [int(r["n"] if isinstance(r, dict) else r[0]) for r in rows]


def _bump_sequence(cur: psycopg.Cursor[Any], table: str, at_least: int) -> None:
    """API-made numbers come from the id sequence (C-<id>, SO-<id>): start it past the loaded numbers."""
    cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(%s, "
                "COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1)))",
                (table, at_least, table))


def _load_crm(crm: psycopg.Connection[Any], spec: GenerationSpec, items: list[ProductRecord],
              stock_rows: list[StockRecord], progress: Progress, batch_size: int) -> dict[str, int]:
    counts = dict.fromkeys(("customers", "contacts", "addresses", "orders", "order_lines"), 0)
    available: dict[str, Any] = {}
    for row in stock_rows:
        available[row.sku] = available.get(row.sku, 0) + row.on_hand
    with crm.transaction(), crm.cursor() as cur:
        taken = _first_taken_crm(cur, "products", [p.sku for p in items])
        if taken:
            raise DataCollision(f"product {taken} already exists in the CRM database; load into empty "
                                "databases, or pass another --sku-prefix")
        with cur.copy("COPY products (sku, name, list_price, available_qty) FROM STDIN") as copy:
            for p in items:
                copy.write_row((p.sku, p.name, p.price, available.get(p.sku, 0)))
        last_order = spec.first_order - 1
        for batch in _batches(customers(spec, items), batch_size):
            _check_batch(cur, batch, spec)
            last_order = _copy_batch(cur, batch, counts) or last_order
            progress(f"crm: {counts['customers']:,}/{spec.customers:,} customers, "
                     f"{counts['orders']:,} orders")
        _bump_sequence(cur, "customers", spec.first_customer + spec.customers - 1)
        _bump_sequence(cur, "sales_orders", last_order)
    return counts


def _check_batch(cur: psycopg.Cursor[Any], batch: list[CustomerRecord], spec: GenerationSpec) -> None:
    taken = _first_taken_crm(cur, "customers", [c.number for c in batch])
    if taken:
        raise DataCollision(f"customer {taken} already exists in the CRM database; pass --first-customer "
                            "above the highest existing number, or load into empty databases")
    numbers = [o.number for c in batch for o in c.orders]
    taken = _first_taken_crm(cur, "sales_orders", numbers) if numbers else None
    if taken:
        raise DataCollision(f"sales order {taken} already exists in the CRM database; pass --first-order "
                            "above the highest existing number, or load into empty databases")


def _copy_batch(cur: psycopg.Cursor[Any], batch: list[CustomerRecord],
                counts: dict[str, int]) -> int | None:
    """COPY one batch of customers with their children; returns the last order number it wrote."""
    ids = _sequence_ids(cur, "customers", len(batch))
    with cur.copy("COPY customers (id, customer_number, name, email, phone) FROM STDIN") as copy:
        for customer_id, c in zip(ids, batch, strict=True):
            copy.write_row((customer_id, c.number, c.name, c.email, c.phone))
    with cur.copy("COPY contacts (customer_id, first_name, last_name, email, phone, role) "
                  "FROM STDIN") as copy:
        for customer_id, c in zip(ids, batch, strict=True):
            for p in c.contacts:
                copy.write_row((customer_id, p.first_name, p.last_name, p.email, p.phone, p.role))
                counts["contacts"] += 1
    with cur.copy("COPY addresses (customer_id, kind, line1, line2, city, postal_code, country) "
                  "FROM STDIN") as copy:
        for customer_id, c in zip(ids, batch, strict=True):
            for a in c.addresses:
                copy.write_row((customer_id, a.kind, a.line1, a.line2, a.city, a.postal_code, a.country))
                counts["addresses"] += 1
    orders = [(customer_id, o) for customer_id, c in zip(ids, batch, strict=True) for o in c.orders]
    counts["customers"] += len(batch)
    if not orders:
        return None
    order_ids = _sequence_ids(cur, "sales_orders", len(orders))
    with cur.copy("COPY sales_orders (id, order_number, customer_id, status, total_amount, ordered_at) "
                  "FROM STDIN") as copy:
        for order_id, (customer_id, o) in zip(order_ids, orders, strict=True):
            copy.write_row((order_id, o.number, customer_id, o.status, o.total, o.ordered_at))
    with cur.copy("COPY sales_order_lines (order_id, line_no, sku, quantity, unit_price) FROM STDIN") as copy:
        for order_id, (_, o) in zip(order_ids, orders, strict=True):
            for line_no, (sku, quantity, price) in enumerate(o.lines, start=1):
                copy.write_row((order_id, line_no, sku, quantity, price))
                counts["order_lines"] += 1
    counts["orders"] += len(orders)
    return int(orders[-1][1].number.removeprefix("SO-"))


def _load_erp(erp: Any, items: list[ProductRecord], stock_rows: list[StockRecord],
              progress: Progress) -> None:
    with erp.cursor() as cur:
        cur.executemany("INSERT INTO warehouses (code, name) VALUES (%s, %s) "
                        "ON DUPLICATE KEY UPDATE code = code", warehouses())
        for batch in _batches(iter(items), 1000):
            cur.executemany("INSERT INTO products (sku, description, unit_price, uom) "
                            "VALUES (%s, %s, %s, %s)", [(p.sku, p.name, p.price, p.uom) for p in batch])
        for rows in _batches(iter(stock_rows), 2000):
            cur.executemany("INSERT INTO stock (sku, warehouse_code, on_hand) VALUES (%s, %s, %s)",
                            [(s.sku, s.warehouse_code, s.on_hand) for s in rows])
    erp.commit()
    progress(f"erp: {len(items):,} products, {len(warehouses())} warehouses, {len(stock_rows):,} stock rows")


def generate(spec: GenerationSpec, *, crm: psycopg.Connection[Any], erp: Any, crm_schema: str = "crm",
             progress: Progress = print, batch_size: int = 10_000) -> GenerationSummary:
    """Load ``spec``'s data through two open connections (the CRM's psycopg one, the ERP's PyMySQL one),
    applying each schema.sql first. Nothing is written if any generated row already exists."""
    started = time.monotonic()
    crm_database.apply_schema_on(crm, crm_schema)
    erp_database.apply_schema_on(erp)
    items = products(spec)
    stock_rows = stock(spec, items)
    _check_erp(erp, items)
    counts = _load_crm(crm, spec, items, stock_rows, progress, batch_size)
    _load_erp(erp, items, stock_rows, progress)
    return GenerationSummary(products=len(items), warehouses=len(warehouses()), stock_rows=len(stock_rows),
                             seconds=time.monotonic() - started, **counts)
