"""The generated row mapper of a compiled source gives what its fields' functions give, one by one: same values in
the same order, and the same refusal, for every source of every repository mapping."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappingValueError, RecordMapping
from streams.mapping.compiled import plan_of
from streams.mapping.transforms import StepInput

#: Column values of every kind a row brings, with the ones a coercer converts or refuses (bool for an integer,
#: a whole Decimal, an int for a string, a str subclass) and nulls.
VALUES: tuple[Any, ...] = ("text", "", "Ünïcode 张", 7, 0, 1, True, False, Decimal("12.50"), Decimal("3"), 2.5, None,
                           dt.datetime(2024, 3, 10, 6, 30, tzinfo=dt.UTC), dt.date(2024, 3, 10),
                           type("Tagged", (str,), {})("sub"))


def _one_by_one(fields: Any, row: dict[str, Any], context: Context) -> tuple[str, Any]:
    given = StepInput(row=row, context=context)
    try:
        return "ok", [(name, function(row, given)) for name, function in fields]
    except MappingValueError as exc:
        return "refused", str(exc)
    except Exception as exc:  # whatever a function raises, the mapper must raise alike
        return type(exc).__name__, str(exc)


def _generated(plan: Any, row: dict[str, Any], context: Context) -> tuple[str, Any]:
    try:
        return "ok", list(plan.map_row(row, context).items())
    except MappingValueError as exc:
        return "refused", str(exc)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def test_row_mapper_equals_the_fields_functions_for_every_repository_source(
    mappings: dict[str, RecordMapping], schemas: SchemaSet, context: Context,
) -> None:
    checked = 0
    for mapping in mappings.values():
        plan = plan_of(mapping, schemas.named)
        for source, source_plan in plan.sources.values():
            columns = sorted({c for b in source.bindings.values() if b.column for c in [b.column]})
            reading = context.reading(source.system)
            for n, values in enumerate(itertools.product(VALUES, repeat=2)):
                if n > 60:
                    break
                # every column once with each value, the others with the row's second value
                for column in columns:
                    row = {c: values[1] for c in columns} | {column: values[0]}
                    assert _generated(source_plan, row, reading) == _one_by_one(source_plan.fields, row, reading), (
                        mapping.path.name, source.name, row)
                    checked += 1
    assert checked > 1_000


@pytest.mark.parametrize("value", ["text", None, 7, True])
def test_a_str_subclass_and_null_pass_as_the_coercer_passes_them(
    mappings: dict[str, RecordMapping], schemas: SchemaSet, context: Context, value: Any,
) -> None:
    plan = plan_of(mappings["customer"], schemas.named)
    for source, source_plan in plan.sources.values():
        row = {b.column: value for b in source.bindings.values() if b.column}
        reading = context.reading(source.system)
        assert _generated(source_plan, row, reading) == _one_by_one(source_plan.fields, row, reading)
