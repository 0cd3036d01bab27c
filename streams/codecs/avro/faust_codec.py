"""Faust codecs for canonical records in Avro single-object encoding.

``avro-canonical`` takes and gives :class:`CanonicalRecord` (any schema, the name travels with the value);
``avro-canonical:<full name>`` is bound to one schema and takes and gives plain dicts, which is what Faust
hands a codec after a model's ``to_representation``. Registration is explicit (``register_faust_codecs``):
nothing happens at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.serializers import codecs

from streams.codecs.avro.single_object import CanonicalRecord, SchemaStore
from streams.codecs.exceptions import SchemaMismatch

CODEC_NAME = "avro-canonical"


class AvroCanonicalCodec(codecs.Codec):
    """Encode canonical records as Avro single objects; decode any known version to the current schema."""

    def __init__(self, store: SchemaStore, schema: str | None = None, **kwargs: Any) -> None:
        super().__init__(store=store, schema=schema, **kwargs)
        self.store = store
        self.schema = schema

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, CanonicalRecord):
            bound = self.schema and self.store.current(self.schema).name
            if bound and self.store.current(obj.schema).name != bound:
                raise SchemaMismatch(f"this codec writes {self.schema}, not {obj.schema}")
            return self.store.encode(obj.schema, obj.value)
        if self.schema is None:
            raise SchemaMismatch(f"the {CODEC_NAME} codec needs a CanonicalRecord (schema name and value), "
                                 f"got {type(obj).__name__}; wrap it, or use {CODEC_NAME}:<schema full name>")
        if not isinstance(obj, Mapping):
            raise SchemaMismatch(f"{CODEC_NAME}:{self.schema} encodes a mapping, got {type(obj).__name__}")
        return self.store.encode(self.schema, obj)

    def _loads(self, s: bytes) -> Any:
        record = self.store.decode(s, self.schema)
        return record if self.schema is None else dict(record.value)

    def __repr__(self) -> str:
        return f"AvroCanonicalCodec(schema={self.schema!r})"


def codec_name(schema: str | None = None) -> str:
    return CODEC_NAME if schema is None else f"{CODEC_NAME}:{schema}"


def register_faust_codecs(store: SchemaStore) -> tuple[str, ...]:
    """Register ``avro-canonical`` and one ``avro-canonical:<full name>`` per schema; returns the names."""
    names = [codec_name()]
    codecs.register(codec_name(), AvroCanonicalCodec(store))
    for schema in store.schemas.names():
        codecs.register(codec_name(schema), AvroCanonicalCodec(store, schema))
        names.append(codec_name(schema))
    return tuple(names)
