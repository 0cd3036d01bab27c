"""A row whose key is null is refused with what fits a key: keep such rows out, never a `default:`.

A new user's PostgreSQL table let its key column be NULL; the refusal said "add a `default:` transform", which
would have made every key-less row one entity, written over one record in the other system."""

from __future__ import annotations

from typing import Any

import pytest

from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappingValueError, RecordMapping
from streams.mapping.compiled import plan_of


def _refusal(mapping: RecordMapping, schemas: SchemaSet, context: Context, row: dict[str, Any]) -> str:
    plan = plan_of(mapping, schemas.named)
    (source, source_plan), = plan.sources.values()
    with pytest.raises(MappingValueError) as caught:
        source_plan.map_row(row, context.reading(source.system))
    return str(caught.value)


def test_a_null_key_column_says_to_keep_such_rows_out(mappings: dict[str, RecordMapping], schemas: SchemaSet,
                                                       context: Context) -> None:
    row = {"sku": None, "description": "no sku", "unit_price": None, "uom": "ea"}
    message = _refusal(mappings["product"], schemas, context, row)
    assert "product.yaml:" in message and " sku: null in the record's key" in message
    assert '`when: "sku is not None"`' in message and "NOT NULL" in message
    assert "add a `default:` transform" not in message


def test_a_null_in_another_required_field_still_suggests_a_default(
        mappings: dict[str, RecordMapping], schemas: SchemaSet, context: Context) -> None:
    row = {"sku": "SKU-1", "description": None, "unit_price": None, "uom": "ea"}
    message = _refusal(mappings["product"], schemas, context, row)
    assert "description: null for a field that is not nullable; add a `default:` transform" in message
