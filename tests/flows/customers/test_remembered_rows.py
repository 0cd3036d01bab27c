"""The rows the customer flow remembers for a table without before-images: kept packed, read back equal, and a
row a store holds from before (tagged JSON) still read as it was written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.flow import ROWS
from streams.flows.customers.remembered import ROWS_CODEC
from streams.flows.engine.packed import is_packed
from streams.flows.engine.values import to_store

pytestmark = pytest.mark.unit

ROW = {"id": 7, "name": "Quay Ltd", "credit_limit": Decimal("1500.00"), "rate": 0.25, "blocked": False,
       "note": None, "updated_at": dt.datetime(2026, 3, 10, 6, 30, 0, 123456, tzinfo=dt.UTC),
       "opened_on": dt.date(2024, 2, 29), "tags": ["a", "b"]}


def test_a_row_is_packed_and_read_back_equal_with_its_exact_values() -> None:
    raw = ROWS_CODEC.encode("customers:7", dict(ROW))
    assert raw is not None and is_packed(raw)
    back = ROWS_CODEC.decode("customers:7", raw)
    assert back == ROW
    assert back is not None and type(back["credit_limit"]) is Decimal and back["credit_limit"].as_tuple().exponent == -2
    assert back["updated_at"].tzinfo is not None and back["opened_on"] == dt.date(2024, 2, 29)
    assert ROWS_CODEC.encode("customers:7", None) is None and ROWS_CODEC.decode("customers:7", None) is None


def test_a_nested_struct_column_is_kept_as_its_fields() -> None:
    row = {"id": 1, "point": MappingProxyType({"x": Decimal("1.5"), "y": 2})}
    back = ROWS_CODEC.decode("places:1", ROWS_CODEC.encode("places:1", row))
    assert back == {"id": 1, "point": {"x": Decimal("1.5"), "y": 2}}


def test_a_row_stored_before_rows_were_packed_reads_as_it_was_written() -> None:
    row = {k: v for k, v in ROW.items() if k != "rate"}  # tagged JSON kept no floats
    old = orjson.dumps({"row": to_store(row)})
    assert not is_packed(old)
    assert ROWS_CODEC.decode("customers:7", old) == row


def test_a_stored_value_that_is_no_row_is_refused_with_its_key() -> None:
    with pytest.raises(CorruptState, match="customers:9 is list"):
        ROWS_CODEC.decode("customers:9", orjson.dumps({"row": [1, 2]}))


def test_an_update_after_a_row_stored_the_old_way_gets_that_row_as_its_before_image(harness: Any) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create("C-910077", name="Old Rows Co"))
    harness.feed(systems.crm_address("C-910077", "billing", line1="1 Quay"))
    rows = harness.run.context.memory[ROWS]
    keys = [key for key, raw in rows.take_changes().items() if raw is not None]
    assert keys and all(is_packed(rows.get_raw(key)) for key in keys), "rows are written packed"
    for key in keys:  # as a store written before this change holds them
        row = ROWS_CODEC.decode(key, rows.get_raw(key))
        rows.put_raw(key, orjson.dumps({"row": to_store(row)}))
    rows.take_changes()
    (update,) = harness.feed(systems.crm_address("C-910077", "billing", line1="2 Quay"))
    assert update.payload["billing_address"]["line1"] == "2 Quay"
    assert harness.dead_letters == []
    address_keys = [key for key in keys if key.startswith("addresses:")]
    assert address_keys and all(is_packed(rows.get_raw(key)) for key in address_keys), "packed once changed"
