"""Discovery warns of each NOT NULL date column of a MariaDB/MySQL database that can hold a zero date: Debezium sends
such a value as the epoch, which a new user's ERP got as 1969-12-31T18:30:00Z (a lax-mode server in Asia/Kolkata,
`signed_up DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00'`, 175 customers) with nothing said anywhere."""

from __future__ import annotations

import pytest

from streams.catalog import Catalog
from streams.catalog.model import ZeroDateColumn
from streams.catalog.mysql import zero_date_column
from streams.cli import mappings

LAX = "NO_ENGINE_SUBSTITUTION"
STRICT = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"


@pytest.mark.parametrize(("default", "sql_mode", "zero_default", "lax_mode"), [
    ("'0000-00-00 00:00:00'", LAX, True, True),       # the company's column on its server
    ("'0000-00-00'", STRICT, True, False),            # a zero default is stored under any mode
    ("0000-00-00 00:00:00", STRICT, True, False),     # MySQL quotes no default
    ("current_timestamp()", LAX, False, True),        # no strict mode: an invalid date is stored as a zero date
    ("NULL", "strict_all_tables", None, None),        # strict, no zero default: none
    (None, STRICT, None, None),
])
def test_a_not_null_date_column_can_hold_a_zero_date_by_its_default_or_a_lax_mode(
        default: str | None, sql_mode: str, zero_default: bool | None, lax_mode: bool | None) -> None:
    found = zero_date_column("customers", "signed_up", "datetime", default, sql_mode)
    if zero_default is None:
        assert found is None
    else:
        assert found == ZeroDateColumn(table="customers", column="signed_up", sql_type="DATETIME",
                                       zero_default=zero_default, lax_mode=bool(lax_mode))


def test_each_such_column_gets_one_warning_naming_the_epoch_and_the_fix() -> None:
    catalog = Catalog(system="tillpoint", engine="mariadb", namespace="tillpoint", zero_dates=(
        ZeroDateColumn(table="customers", column="signed_up", sql_type="DATETIME", zero_default=True, lax_mode=True),
        ZeroDateColumn(table="orders", column="placed_on", sql_type="DATE", lax_mode=True)))
    first, second = mappings.zero_date_warnings(catalog)
    assert first.startswith("WARNING: customers.signed_up is DATETIME NOT NULL and can hold a zero date ('0000-00-00'"
                            "): its default is a zero date and the server's sql_mode has no strict mode")
    for said in ("Debezium sends a zero date of a NOT NULL column as 1970-01-01T00:00:00 (the epoch)",
                 "nothing says so", "fix: make the column nullable and store NULL for no date",
                 "ALTER TABLE customers MODIFY signed_up DATETIME NULL",
                 "UPDATE customers SET signed_up = NULL WHERE signed_up = 0", "NO_ZERO_DATE",
                 'systems/README.md, "Zero dates"'):
        assert said in first, said
    assert second.startswith("WARNING: orders.placed_on is DATE NOT NULL and can hold a zero date ('0000-00-00'): "
                             "the server's sql_mode has no strict mode") and "its default" not in second
    assert mappings.zero_date_warnings(Catalog(system="x", engine="mariadb", namespace="x")) == []
