"""The Faust codecs: registered by name, encoding through the schema store."""

from __future__ import annotations

from decimal import Decimal

import pytest
from faust.serializers import codecs

from streams.codecs.avro.faust_codec import AvroCanonicalCodec, codec_name, register_faust_codecs
from streams.codecs.avro.single_object import MARKER, CanonicalRecord, SchemaStore
from streams.codecs.exceptions import SchemaMismatch

STOCK = {"sku": "SKU-1", "available_qty": Decimal("12.500")}


def test_registered_codecs_round_trip_through_faust(store: SchemaStore) -> None:
    names = register_faust_codecs(store)
    assert "avro-canonical" in names and "avro-canonical:isthmus.canonical.ProductAvailability" in names
    generic = codecs.get_codec("avro-canonical")
    bound = codecs.get_codec(codec_name("isthmus.canonical.ProductAvailability"))
    data = bound.dumps(STOCK)
    assert data[:2] == MARKER
    assert bound.loads(data) == {**STOCK, "as_of": None}
    record = generic.loads(data)
    assert record == CanonicalRecord(
        schema="isthmus.canonical.ProductAvailability", value={**STOCK, "as_of": None}
    )
    assert generic.dumps(record) == data


def test_codec_survives_faust_cloning(store: SchemaStore) -> None:
    chained = AvroCanonicalCodec(store, "isthmus.canonical.ProductAvailability") | codecs.get_codec("binary")
    assert chained.loads(chained.dumps(STOCK))["sku"] == "SKU-1"


def test_generic_codec_needs_the_schema_name(store: SchemaStore) -> None:
    with pytest.raises(SchemaMismatch, match="CanonicalRecord"):
        AvroCanonicalCodec(store).dumps(STOCK)


def test_bound_codec_refuses_another_schema(store: SchemaStore) -> None:
    record = CanonicalRecord(schema="isthmus.canonical.Customer", value={})
    with pytest.raises(SchemaMismatch, match="writes"):
        AvroCanonicalCodec(store, "isthmus.canonical.ProductAvailability").dumps(record)
