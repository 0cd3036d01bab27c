"""The CRM's order status check on a real PostgreSQL: a database made before ``on_hold`` existed gets it when
schema.sql is applied again (the orders flow writes ``on_hold`` for orders of blocked ERP accounts)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from reference.crm.database import apply_schema_on
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration

OLD_CHECK = ("CHECK (status IN ('draft', 'submitted', 'reserved', 'shipped', 'invoiced', 'paid', "
             "'cancelled'))")


def _insert(conn: psycopg.Connection[object], number: str, status: str) -> None:
    conn.execute("INSERT INTO customers (customer_number, name) VALUES (%s, 'Migration') "
                 "ON CONFLICT (customer_number) DO NOTHING", ("C-990001",))
    conn.execute("INSERT INTO sales_orders (order_number, customer_id, status) "
                 "SELECT %s, id, %s FROM customers WHERE customer_number = 'C-990001'", (number, status))
    conn.commit()


def test_an_old_crm_database_accepts_on_hold_after_the_schema_is_applied_again(stack: RunningStack) -> None:
    schema = f"crm_migration_{uuid.uuid4().hex[:10]}"
    with stack.connect_crm() as conn:
        try:
            apply_schema_on(conn, schema)
            conn.execute("ALTER TABLE sales_orders DROP CONSTRAINT sales_orders_status_check")
            conn.execute(f"ALTER TABLE sales_orders ADD CONSTRAINT sales_orders_status_check {OLD_CHECK}")
            conn.commit()
            with pytest.raises(psycopg.errors.CheckViolation):
                _insert(conn, "SO-990001", "on_hold")
            conn.rollback()

            apply_schema_on(conn, schema)
            apply_schema_on(conn, schema)  # a second start changes nothing
            _insert(conn, "SO-990001", "on_hold")
            with pytest.raises(psycopg.errors.CheckViolation):
                _insert(conn, "SO-990002", "lost")
            conn.rollback()
            checks = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conrelid = 'sales_orders'::regclass AND contype = 'c' "
                                  "AND conname = 'sales_orders_status_check'").fetchall()
            assert len(checks) == 1 and "on_hold" in str(checks[0])
        finally:
            conn.rollback()
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.commit()
