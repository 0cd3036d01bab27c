"""``parse_json``: JSON text (a JSON or TEXT column, which Debezium delivers as text) into a value of the field it
fills, shaped by the field's Avro type, so a target that keeps a list of records in a JSON column can map it back
and the list Isthmus sent it reads back as the same value (times as UTC datetimes, decimals exact, the fields an
item left out at their schema defaults)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from streams.mapping.exceptions import MappingValueError
from streams.mapping.json_text import parse_json_text
from streams.mapping.kinds import Kind
from streams.mapping.transforms import BUILTINS, ArgumentProblem, Environment, ParseJsonStep, StepInput

pytestmark = pytest.mark.unit

ITEM = {"type": "record", "name": "Item", "fields": [
    {"name": "id", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "text", "type": "string", "default": ""},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None},
    {"name": "due", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
    {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}],
     "default": None}]}
ITEMS = {"type": "array", "items": "Item"}
NAMED: dict[str, Any] = {"Item": ITEM}


def test_a_json_list_of_records_becomes_the_list_the_record_holds() -> None:
    text = json.dumps([{"text": "eins", "id": 1, "at": "2026-05-01T07:01:00.123456+00:00", "due": "2026-05-04",
                        "amount": "12.50", "unknown": True},
                       {"id": 2, "at": "2026-05-01T09:01:00+02:00"}])
    assert parse_json_text(text, ITEMS, NAMED, "kommentare") == [
        {"id": 1, "note": None, "text": "eins", "at": dt.datetime(2026, 5, 1, 7, 1, 0, 123456, tzinfo=dt.UTC),
         "due": dt.date(2026, 5, 4), "amount": Decimal("12.50")},
        {"id": 2, "note": None, "text": "", "at": dt.datetime(2026, 5, 1, 7, 1, tzinfo=dt.UTC), "due": None,
         "amount": None}]


def test_epoch_numbers_and_a_null_document() -> None:
    item = {"id": 3, "at": 1_777_618_860_000_000, "due": 20_574, "amount": 7}
    assert parse_json_text(json.dumps(item), "Item", NAMED, "x") == {
        "id": 3, "note": None, "text": "", "at": dt.datetime(2026, 5, 1, 7, 1, tzinfo=dt.UTC),
        "due": dt.date(2026, 5, 1), "amount": Decimal("7.00")}
    assert parse_json_text(None, ITEMS, NAMED, "x") is None
    assert parse_json_text("null", ["null", ITEMS], NAMED, "x") is None


@pytest.mark.parametrize(("text", "says"), [
    ("[{\"id\": 1", "not JSON"),
    ("{\"id\": 1}", "expected a JSON array"),
    ("[{\"id\": \"one\"}]", "x[0].id: expected a whole number"),
    ("[{\"id\": 1, \"amount\": \"1.234\"}]", "x[0].amount: 1.234 has more than 2 decimals"),
    ("[{\"id\": 1, \"at\": \"yesterday\"}]", "x[0].at: 'yesterday' is not an ISO 8601 time"),
    ("null", "x: null where the field is not nullable"),
])
def test_a_value_that_does_not_fit_names_its_path(text: str, says: str) -> None:
    with pytest.raises(MappingValueError) as raised:
        parse_json_text(text, ITEMS, NAMED, "x")
    assert says in str(raised.value)


def test_the_step_reads_text_only_and_is_shaped_by_the_loader() -> None:
    step = BUILTINS["parse_json"](None, Environment(schemas=None))  # type: ignore[arg-type]
    assert isinstance(step, ParseJsonStep)
    assert step.out(Kind("string", nullable=False)) == Kind("any", nullable=False)
    with pytest.raises(ArgumentProblem, match="parse_json reads JSON text, the value is int"):
        step.out(Kind("int", nullable=False))
    with pytest.raises(ArgumentProblem, match="parse_json has no option x"):
        BUILTINS["parse_json"]({"x": 1}, Environment(schemas=None))  # type: ignore[arg-type]
    given = StepInput(row={}, context=None)  # type: ignore[arg-type]
    assert step.apply('{"a": [1, 2.5]}', given) == {"a": [1, Decimal("2.5")]}, "without a field type: as JSON"


def test_a_decimal_of_more_digits_than_pythons_default_context_keeps_them_all() -> None:
    """34 digits into a scale-10 field: the default context (28 digits) refused it; the mapping's one quantize
    (streams/mapping/decimals.py) keeps every digit, as the `decimal:` step does."""
    wide = {"type": "array", "items": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 10}}
    assert parse_json_text('["123456789012345678901234.5"]', wide, {}, "x") == [
        Decimal("123456789012345678901234.5000000000")]


def test_a_local_time_is_read_back_as_the_wall_clock_time_it_was_sent_as() -> None:
    """A payload's local-timestamp field goes out as ISO text without an offset (payload_json); read back, it is that
    wall-clock time again, not a UTC instant; an epoch count is taken as if UTC, as Avro's local-timestamp is."""
    local = {"type": "long", "logicalType": "local-timestamp-micros"}
    millis = {"type": "long", "logicalType": "local-timestamp-millis"}
    assert parse_json_text('"2026-10-25T02:30:00"', local, {}, "x") == dt.datetime(2026, 10, 25, 2, 30)
    assert parse_json_text("1788228120000", millis, {}, "x") == dt.datetime(2026, 9, 1, 2, 2)
    for text, says in (('"2026-10-25T02:30:00+01:00"', "without an offset"), ('"gestern"', "not an ISO 8601 time")):
        with pytest.raises(MappingValueError, match=says):
            parse_json_text(text, local, {}, "x")
