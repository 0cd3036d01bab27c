"""Which NUMERIC columns may hold 'NaN', read live (a new user's trial: a NaN in a NOT NULL numeric of a captured
table failed the connector's task mid-snapshot, and NaN in a nullable one reached the ERP as null, with nothing
said before): :func:`streams.catalog.postgres.table_identities` names each NUMERIC column (a domain over one too)
that no CHECK of its table, or of its domain, keeps 'NaN' out of, and which of them are NOT NULL; a partition
inherits its parent's checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.catalog.postgres import table_identities
from streams.stack.running import RunningStack

SCRATCH = "isthmus_nan_scratch"


@pytest.fixture
def billing(stack: RunningStack) -> Iterator[str]:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"CREATE DOMAIN {SCRATCH}.amount AS numeric(12, 2)")
        conn.execute(f"CREATE DOMAIN {SCRATCH}.checked AS numeric(12, 2) CHECK (VALUE <> 'NaN')")
        conn.execute(f"""CREATE TABLE {SCRATCH}.subscribers (
            id bigint PRIMARY KEY, balance numeric(20, 6), due numeric NOT NULL, fee {SCRATCH}.amount,
            guarded numeric CHECK (guarded NOT IN ('NaN', 'Infinity', '-Infinity')), safe {SCRATCH}.checked,
            mrr money, seats integer)""")
        conn.execute(f"""CREATE TABLE {SCRATCH}.invoices (id bigint, issued_on date, amount numeric(20, 6) NOT NULL,
            PRIMARY KEY (id, issued_on)) PARTITION BY RANGE (issued_on)""")
        conn.execute(f"CREATE TABLE {SCRATCH}.invoices_10 PARTITION OF {SCRATCH}.invoices "
                     "FOR VALUES FROM ('2026-10-01') TO ('2026-11-01')")
        try:
            yield SCRATCH
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")


def test_numeric_columns_without_a_nan_check_are_named(stack: RunningStack, billing: str) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        tables = {t.name: t for t in table_identities(conn) if t.namespace == billing}
        assert (tables["subscribers"].numerics, tables["subscribers"].required_numerics) == (
            ("balance", "due", "fee"), ("due",))
        assert (tables["invoices_10"].numerics, tables["invoices_10"].required_numerics) == (("amount",), ("amount",))
        assert tables["invoices_10"].root == f"{billing}.invoices"
        conn.execute(f"ALTER TABLE {billing}.invoices ADD CHECK (amount <> 'NaN')")  # the parent's, inherited
        conn.execute(f"ALTER TABLE {billing}.subscribers ADD CONSTRAINT b CHECK (balance NOT IN ('NaN'))")
        tables = {t.name: t for t in table_identities(conn) if t.namespace == billing}
    assert tables["invoices_10"].numerics == ()
    assert tables["subscribers"].numerics == ("due", "fee")
