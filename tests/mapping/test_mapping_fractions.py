"""``truncate: second | millisecond``: a time cut down to that unit, the fraction below dropped (never rounded), as a
column that keeps whole seconds (MariaDB's ``DATETIME``) or milliseconds stores a finer time; ``round``: rounded to
it, a half up, as MySQL and PostgreSQL store one. And which of them a column's catalog entry says it stores with."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.catalog.model import Column, Table
from streams.mapping.exceptions import MappingValueError
from streams.mapping.kinds import Kind, avro_digits, column_digits
from streams.mapping.loader import _stored_times
from streams.mapping.transforms import (
    BUILTINS,
    ArgumentProblem,
    Context,
    Environment,
    RoundStep,
    StepInput,
    TruncateStep,
)

pytestmark = pytest.mark.unit

ENV = Environment(schemas=None)  # type: ignore[arg-type]
GIVEN = StepInput(row={}, context=Context())


@pytest.mark.parametrize(("unit", "value", "cut"), [
    ("second", dt.datetime(2026, 10, 24, 15, 45, 1, 999999, tzinfo=dt.UTC),
     dt.datetime(2026, 10, 24, 15, 45, 1, tzinfo=dt.UTC)),
    ("millisecond", dt.datetime(2026, 10, 24, 15, 45, 1, 123456), dt.datetime(2026, 10, 24, 15, 45, 1, 123000)),
    ("second", dt.time(8, 30, 0, 500000), dt.time(8, 30)),
    ("second", None, None),
    (2, dt.datetime(2026, 10, 24, 15, 45, 1, 129999), dt.datetime(2026, 10, 24, 15, 45, 1, 120000)),
])
def test_a_time_is_cut_down_to_the_unit(unit: str, value: object, cut: object) -> None:
    assert BUILTINS["truncate"](unit, ENV).apply(value, GIVEN) == cut


@pytest.mark.parametrize(("args", "kind", "message"), [
    ("hour", Kind("timestamp"), "truncate takes the unit to cut down to, not 'hour'"),
    (None, Kind("timestamp"), "truncate takes the unit to cut down to, not None"),
    (7, Kind("timestamp"), "truncate takes the unit to cut down to, not 7"),
    (True, Kind("timestamp"), "truncate takes the unit to cut down to, not True"),
    ("second", Kind("string"), "truncate works on times, the value is"),
])
def test_a_unit_or_a_value_it_cannot_take_is_refused_at_load(args: object, kind: Kind, message: str) -> None:
    with pytest.raises(ArgumentProblem) as raised:
        BUILTINS["truncate"](args, ENV).out(kind)
    assert raised.value.message.startswith(message) and raised.value.fix


def test_the_kind_stays_that_of_the_time() -> None:
    for base in ("timestamp", "local_timestamp", "time"):
        assert BUILTINS["truncate"]("second", ENV).out(Kind(base, nullable=False)) == Kind(base, nullable=False)


@pytest.mark.parametrize(("unit", "value", "rounded"), [
    ("second", dt.datetime(2026, 10, 24, 15, 45, 1, 600000, tzinfo=dt.UTC),
     dt.datetime(2026, 10, 24, 15, 45, 2, tzinfo=dt.UTC)),
    ("second", dt.datetime(2026, 10, 24, 15, 45, 1, 500000), dt.datetime(2026, 10, 24, 15, 45, 2)),  # a half up
    ("second", dt.datetime(2026, 10, 24, 15, 45, 1, 499999), dt.datetime(2026, 10, 24, 15, 45, 1)),
    ("second", dt.datetime(2026, 12, 31, 23, 59, 59, 700000), dt.datetime(2027, 1, 1)),  # carried into the next year
    ("millisecond", dt.datetime(2026, 10, 24, 15, 45, 1, 123500), dt.datetime(2026, 10, 24, 15, 45, 1, 124000)),
    (2, dt.time(8, 30, 0, 775000), dt.time(8, 30, 0, 780000)),
    ("second", dt.time(8, 30, 59, 500000, tzinfo=dt.UTC), dt.time(8, 31, tzinfo=dt.UTC)),
    ("second", None, None),
])
def test_a_time_is_rounded_to_the_unit_a_half_up(unit: object, value: object, rounded: object) -> None:
    assert BUILTINS["round"](unit, ENV).apply(value, GIVEN) == rounded


def test_a_time_of_day_rounded_past_midnight_is_refused() -> None:
    with pytest.raises(MappingValueError, match="rounds past midnight"):
        BUILTINS["round"]("second", ENV).apply(dt.time(23, 59, 59, 500000), GIVEN)


@pytest.mark.parametrize(("engine", "sql_type", "args", "digits", "step"), [
    ("mariadb", "DATETIME", (), 0, TruncateStep(digits=0)),  # MariaDB/MySQL's default: whole seconds
    ("mariadb", "TIMESTAMP", ("3",), 3, TruncateStep(digits=3)),
    ("mariadb", "TIME", ("6",), 6, None),  # keeps microseconds: stored as sent
    ("mysql", "DATETIME", ("2",), 2, RoundStep(digits=2)),
    ("postgresql", "TIMESTAMP WITHOUT TIME ZONE", ("0",), 0, RoundStep(digits=0)),
    ("postgresql", "TIMESTAMP WITH TIME ZONE", (), 6, None),  # PostgreSQL's default: microseconds
    ("postgresql", "DATE", (), None, None),
    ("mariadb", "VARCHAR", ("20",), None, None),
])
def test_a_time_column_stores_a_finer_time_as_its_engine_does(engine: str, sql_type: str, args: tuple[str, ...],
                                                             digits: int | None, step: object) -> None:
    column = Column(name="c", sql_type=sql_type, args=args)
    assert column_digits(column, engine) == digits
    assert _stored_times(Table(name="t", columns={"c": column}), engine).get("c") == step


@pytest.mark.parametrize(("schema", "digits"), [
    (["null", {"type": "long", "logicalType": "timestamp-micros"}], 6),
    ({"type": "long", "logicalType": "local-timestamp-millis"}, 3),
    ({"type": "int", "logicalType": "time-millis"}, 3),
    ("long", None),
    (["null", "string", "long"], None),
])
def test_a_record_field_holds_the_digits_of_its_logical_type(schema: object, digits: int | None) -> None:
    assert avro_digits(schema, {}) == digits
