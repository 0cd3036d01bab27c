"""Real Debezium records captured from the dev CRM (PostgreSQL) and ERP (MariaDB), every decoder path."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.codecs import (
    ChangeEvent,
    MessageEvent,
    Op,
    Tombstone,
    TransactionEvent,
    TransactionStatus,
    decode,
)

FIXTURES = Path(__file__).parent / "fixtures"
ALL = sorted(p.stem for p in FIXTURES.glob("*.json"))


def _decode(captured: Callable[[str], Any], name: str) -> Any:
    record = captured(name)
    return decode(record.value, record.key, topic=record.topic)


@pytest.mark.parametrize("name", ALL)
def test_every_captured_record_decodes_to_the_kind_its_topic_holds(
    captured: Callable[[str], Any], name: str
) -> None:
    record = _decode(captured, name)
    if "_tombstone_" in name:
        assert isinstance(record, Tombstone) and record.key
    elif "_transaction_" in name:
        assert isinstance(record, TransactionEvent)
    elif "_message_" in name:
        assert isinstance(record, MessageEvent)
    else:
        assert isinstance(record, ChangeEvent)
        assert record.op.value == name.split("_")[-2]


def test_crm_snapshot_read_has_exact_decimals_and_utc_times(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "crm_customers_r_1")
    assert event.op is Op.READ and event.before is None
    assert event.source.is_snapshot and event.source.snapshot == "last"
    row = event.after
    assert row["customer_number"] == "C-990001"
    assert row["credit_limit"] == Decimal("1234.50") and str(row["credit_limit"]) == "1234.50"
    assert row["open_balance"] == Decimal("0.00")
    assert row["blocked"] is False and row["erp_account_id"] is None
    assert row["created_at"].tzinfo is dt.UTC
    assert event.key == {"id": row["id"]}


def test_crm_update_carries_before_and_after_and_a_negative_decimal(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "crm_customers_u_1")
    assert event.op is Op.UPDATE
    assert event.before["name"] == "FIXTURE capture customer"
    assert event.after["name"] == "FIXTURE capture customer renamed"
    assert event.before["credit_limit"] == Decimal("1234.50")
    assert event.after["credit_limit"] == Decimal("-0.05")
    assert not event.source.is_snapshot


def test_crm_delete_with_full_before_image_then_a_tombstone_with_the_same_key(
    captured: Callable[[str], Any],
) -> None:
    delete = _decode(captured, "crm_customers_d_1")
    tombstone = _decode(captured, "crm_customers_tombstone_1")
    assert delete.op is Op.DELETE and delete.after is None
    assert delete.row is delete.before and delete.before["customer_number"] == "C-990001"
    assert isinstance(tombstone, Tombstone) and tombstone.key == delete.key


def test_crm_delete_without_replica_identity_full_has_only_the_key_and_defaults(
    captured: Callable[[str], Any],
) -> None:
    """sales_order_lines keeps the default replica identity: Debezium fills the non-key columns with their
    schema defaults, so a mapping must not treat them as the deleted row's values."""
    delete = _decode(captured, "crm_sales_order_lines_d_1")
    assert delete.before["id"] == delete.key["id"]
    assert delete.before["sku"] == "" and delete.before["quantity"] == Decimal(0)


def test_postgresql_source_position_and_transaction_block(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "crm_customers_u_1")
    source = event.source
    assert source.connector == "postgresql" and source.db == "crm" and source.schema == "crm"
    assert source.table == "customers" and source.lsn is not None and source.tx_id is not None
    assert source.position == f"lsn={source.lsn}" and source.position_key() == (source.lsn,)
    assert source.commit_time == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=source.ts_us
    )
    assert event.transaction.id.startswith(f"{source.tx_id}:")
    assert event.transaction.total_order == 1 and event.transaction.data_collection_order == 1


def test_mariadb_source_position_gtid_and_zone_less_datetimes(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "erp_sales_orders_c_1")
    source = event.source
    assert source.connector == "mariadb" and source.db == "erp" and source.table == "sales_orders"
    assert source.file and source.pos and source.row == 0 and source.gtid
    assert source.position == f"{source.file}:{source.pos}#0 gtid={source.gtid}"
    assert event.transaction.id == source.gtid
    order_date = event.after["order_date"]
    assert order_date == dt.datetime(2024, 3, 10, 14, 30, 0, 123000) and order_date.tzinfo is None
    assert event.after["status"] == "reserved" and event.after["total_amount"] == Decimal("59.97")


def test_mariadb_booleans_arrive_as_small_integers(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "erp_accounts_u_1")
    assert event.before["blocked"] == 0 and event.after["blocked"] == 1
    assert event.after["credit_limit"] == Decimal("7500.25") and event.after["payment_terms"] == "NET60"


def test_mariadb_date_and_millisecond_datetime(captured: Callable[[str], Any]) -> None:
    event = _decode(captured, "erp_invoices_c_1")
    assert event.after["due_date"] == dt.date(2024, 4, 10)
    assert event.after["issued_at"] == dt.datetime(2024, 3, 11, 10, 0)


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_transaction_end_counts_the_data_events_that_share_its_key(
    captured: Callable[[str], Any], system: str
) -> None:
    records = [_decode(captured, n) for n in ALL if n.startswith(system)]
    data = Counter(
        r.transaction.tx_key for r in records if isinstance(r, (ChangeEvent, MessageEvent)) and r.transaction
    )
    ends = [r for r in records if isinstance(r, TransactionEvent) and r.status is TransactionStatus.END]
    begins = {
        r.tx_key for r in records if isinstance(r, TransactionEvent) and r.status is TransactionStatus.BEGIN
    }
    assert ends
    for end in ends:
        assert end.tx_key in begins
        assert end.event_count == data[end.tx_key] == sum(end.data_collections.values())


def test_order_and_lines_written_in_one_crm_transaction_share_it(captured: Callable[[str], Any]) -> None:
    order = _decode(captured, "crm_sales_orders_c_1")
    lines = [_decode(captured, n) for n in ("crm_sales_order_lines_c_1", "crm_sales_order_lines_c_2")]
    assert {line.transaction.tx_key for line in lines} == {order.transaction.tx_key}
    assert len({e.transaction.id for e in (order, *lines)}) == 3, "PostgreSQL ids differ per event"
    assert sorted(e.transaction.total_order for e in (order, *lines)) == [1, 2, 3]
    end = next(
        e
        for e in (_decode(captured, n) for n in ALL if n.startswith("crm_transaction_end"))
        if e.tx_key == order.transaction.tx_key
    )
    assert dict(end.data_collections) == {"crm.sales_orders": 1, "crm.sales_order_lines": 2}


def test_logical_decoding_message(captured: Callable[[str], Any]) -> None:
    message = _decode(captured, "crm_message_1")
    assert message.op is Op.MESSAGE and message.prefix == "fixture"
    assert message.content == b"FIXTURE hello"
    assert message.key == {"prefix": "fixture"}


@pytest.mark.parametrize("name", ALL)
def test_every_decoded_record_holds_every_field_as_its_init_sets_them(
    captured: Callable[[str], Any], name: str
) -> None:
    """The compiled decoder sets a change's, its transaction block's and an END's fields at once, not through the
    frozen dataclasses' ``__init__``: each holds every field, in their order, and equals what ``__init__`` makes of
    the same values; so does a change given other images (``with_images``)."""
    record = _decode(captured, name)
    made = [record]
    if isinstance(record, ChangeEvent):
        made += [record.transaction] if record.transaction is not None else []
        made.append(record.with_images(record.after, record.before))
        assert made[-1] == dataclasses.replace(record, before=record.after, after=record.before)
    for one in made:
        assert list(vars(one)) == [f.name for f in dataclasses.fields(one)]
        assert type(one)(**vars(one)) == one
