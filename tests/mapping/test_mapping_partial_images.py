"""Changes that do not carry every value of their row: Debezium's placeholder for an unchanged TOASTed value
(PostgreSQL without REPLICA IDENTITY FULL) is never taken for the column's value, and an update that changes the
record's key ends the record under its old key and makes it whole under the new one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from streams.codecs import ChangeEvent
from streams.codecs.avro.schemas import SchemaSet
from streams.codecs.debezium.unavailable import PLACEHOLDER, is_unavailable, unavailable_columns
from streams.mapping import Context, Engine, MappingValueError, RecordMapping, map_change

pytestmark = pytest.mark.unit

Event = Callable[[str], ChangeEvent]


def _update(captured: Event, *, before: dict[str, Any] | None = None, **after: Any) -> ChangeEvent:
    event = captured("crm_customers_u_1")
    assert event.after is not None
    return dataclasses.replace(event, before=before, after={**event.after, **after})


def test_the_placeholder_is_found_as_text_bytes_and_arrays_and_nothing_else_is() -> None:
    row = {"id": 1, "note": PLACEHOLDER, "blob": PLACEHOLDER.encode(), "tags": (PLACEHOLDER,), "list": [PLACEHOLDER],
           "name": "__debezium_unavailable", "other": (PLACEHOLDER, "x"), "none": None}
    assert unavailable_columns(row) == ("note", "blob", "tags", "list")
    assert unavailable_columns({"id": 1, "name": "x"}) == () and unavailable_columns(None) == ()
    assert not is_unavailable(0) and not is_unavailable(f" {PLACEHOLDER}")


def test_an_update_without_a_before_image_leaves_out_the_fields_of_an_unsent_value(
        mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet) -> None:
    (change,) = map_change(mappings["customer"], _update(captured, email=PLACEHOLDER, name="Renamed Ltd"), "crm",
                           context, schemas.named)
    assert "email" not in change.values and "email" not in change.asserted
    assert change.values["name"] == "Renamed Ltd" and "name" in change.asserted
    assert PLACEHOLDER not in change.values.values()


def test_an_unsent_value_is_taken_from_the_before_image_when_the_event_has_it(
        mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet) -> None:
    event = captured("crm_customers_u_1")
    assert event.before is not None and event.after is not None
    kept = dataclasses.replace(event, after={**event.after, "email": PLACEHOLDER})
    (change,) = map_change(mappings["customer"], kept, "crm", context, schemas.named)
    (plain,) = map_change(mappings["customer"], dataclasses.replace(event, after={**event.after,
                                                                               "email": event.before["email"]}),
                          "crm", context, schemas.named)
    assert change == plain


def test_a_key_that_reads_an_unsent_value_is_refused_with_the_fix(
        mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet) -> None:
    with pytest.raises(MappingValueError, match=r"customer_number.*REPLICA IDENTITY FULL"):
        map_change(mappings["customer"], _update(captured, customer_number=PLACEHOLDER), "crm", context,
                   schemas.named)


def test_a_whole_row_with_an_unsent_value_is_refused(
        mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet) -> None:
    mapping = mappings["customer"]
    (source,) = [s for s in mapping.sources if s.system == "crm" and s.table == "customers"]
    row = _update(captured, email=PLACEHOLDER).after
    assert row is not None
    engine = Engine(mapping, schemas.named)
    with pytest.raises(MappingValueError, match=r"email.*ALTER TABLE customers REPLICA IDENTITY FULL"):
        engine.map_row(source, row, context)
    unread = next(c for c in row if c not in source.columns_read)  # a column no binding reads may lack its value
    assert engine.map_row(source, {**_update(captured).after, unread: PLACEHOLDER}, context)["name"] == row["name"]


def test_an_update_of_the_key_ends_the_old_record_and_makes_the_new_one_whole(
        mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet) -> None:
    event = captured("crm_customers_u_1")
    assert event.before is not None and event.after is not None
    renumbered = dataclasses.replace(event, after={**event.before, "customer_number": "C-990777"})
    ended, made = map_change(mappings["customer"], renumbered, "crm", context, schemas.named)
    assert (ended.key, ended.deleted, ended.values) == ("C-990001", True,
                                                         {"customer_number": "C-990001", "active": False})
    assert (made.key, made.deleted, made.base) == ("C-990777", False, None)
    assert set(made.asserted) == set(made.values) - {"customer_number"}, "the new key's record claims every field"
    # an update that keeps the key is one change, as before
    (same,) = map_change(mappings["customer"], event, "crm", context, schemas.named)
    assert same.key == "C-990001" and same.asserted == ("name", "credit_limit")
