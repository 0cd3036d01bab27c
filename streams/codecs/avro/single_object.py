"""Avro single-object encoding: ``C3 01``, the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint,
then the binary body. No schema registry can be had from the package registries this project uses (see
schemas/README.md), so a reader finds the writer schema by fingerprint in a store built from ``schemas/``,
current and historical versions, and resolves it to the reader's (current) schema.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import parse_schema

from streams.codecs.avro.json_form import Check, compile_check
from streams.codecs.avro.resolution import read_as
from streams.codecs.avro.schemas import Schema, SchemaSet, fingerprint, load_schemas
from streams.codecs.avro.writer import WRITE_ERRORS, FieldValueError, Writer, compile_writer
from streams.codecs.exceptions import NotSingleObject, SchemaMismatch, UnknownFingerprint, UnknownSchema

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8


@dataclass(frozen=True, kw_only=True)
class StoredSchema:
    """One schema version the store can read or write: its full name, version label and fingerprint."""

    name: str
    version: str
    fingerprint: bytes
    schema: Schema
    parsed: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CanonicalRecord:
    """A decoded (or to-be-encoded) canonical record with the full name of its schema."""

    schema: str
    value: Mapping[str, Any]


def _parse(schema: Schema) -> dict[str, Any]:
    return cast(dict[str, Any], parse_schema(schema, named_schemas={}))


class SchemaStore:
    """Schemas by name (the current version writes) and by fingerprint (any known version can be read)."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        current: dict[str, StoredSchema] = {}
        known: dict[bytes, StoredSchema] = {}
        for name in schemas.names():
            standalone = schemas.standalone(name)
            stored = StoredSchema(name=name, version="current", fingerprint=fingerprint(standalone),
                                  schema=standalone, parsed=schemas.parsed(name))
            current[name] = stored
            known[stored.fingerprint] = stored
            for old in schemas.versions(name):
                print_ = fingerprint(old.schema)
                known.setdefault(print_, StoredSchema(
                    name=name, version=f"v{old.version}", fingerprint=print_, schema=old.schema,
                    parsed=_parse(old.schema)))
        self._current = MappingProxyType(current)
        self._by_fingerprint = MappingProxyType(known)
        self._readers: dict[tuple[bytes, str], dict[str, Any]] = {}
        self._writers: dict[str, tuple[StoredSchema, Writer | None]] = {}
        self._checks: dict[str, tuple[StoredSchema, Check | None]] = {}

    @classmethod
    def from_directory(cls, directory: Any = None) -> SchemaStore:
        return cls(load_schemas() if directory is None else load_schemas(directory))

    def current(self, name: str) -> StoredSchema:
        try:
            return self._current[self.schemas.resolve(name, top_level=True)]
        except (KeyError, UnknownSchema):
            raise UnknownSchema(f"no schema named {name!r} in the store; known: "
                                f"{', '.join(sorted(self._current))}") from None

    def by_fingerprint(self, value: bytes) -> StoredSchema:
        try:
            return self._by_fingerprint[value]
        except KeyError:
            raise UnknownFingerprint(
                f"no known schema has fingerprint {value.hex()}; the writer used a schema this worker does "
                "not have: deploy the writer's schemas/ (or its history/ copy) here") from None

    def fingerprints(self) -> Mapping[bytes, StoredSchema]:
        return self._by_fingerprint

    def reader_for(self, writer: StoredSchema, target: StoredSchema) -> dict[str, Any]:
        """The parsed schema that reads ``writer``'s data as ``target``: the target itself, unless the writer
        wrote an enum where the target has a string (``System``, an enum until systems became data), then the
        target with the writer's enum in those places, so the symbol is read as the string
        (``streams.codecs.avro.resolution``)."""
        key = (writer.fingerprint, target.name)
        if key not in self._readers:
            adapted = None if writer is target else read_as(target.schema, writer.schema)
            self._readers[key] = target.parsed if adapted is None else _parse(adapted)
        return self._readers[key]

    def encode(self, name: str, value: Mapping[str, Any]) -> bytes:
        """Single-object bytes of ``value`` under the current version of schema ``name``: through the writer
        compiled for it (:mod:`streams.codecs.avro.writer`, the same bytes as fastavro), or fastavro where the
        schema has a construct that writer does not compile."""
        known = self._writers.get(name)
        if known is None:
            stored = self.current(name)
            known = self._writers[name] = (stored, compile_writer(stored.parsed))
        stored, writer = known
        try:
            if writer is not None:
                out = bytearray(MARKER)
                out += stored.fingerprint
                writer(out, value)
                return bytes(out)
            body = io.BytesIO()
            schemaless_writer(body, stored.parsed, value)
        except WRITE_ERRORS as exc:
            raise self._mismatch("the value", stored, exc) from exc
        return MARKER + stored.fingerprint + body.getvalue()

    def check_json(self, name: str, value: Mapping[str, Any], *, what: str) -> None:
        """Refuse ``value``, a record of schema ``name`` sent as JSON (a command's payload), where Avro's encoder
        would refuse it: a decimal beyond its precision or scale, an integer beyond its type, an enum's unknown
        symbol, a fixed of another size, a null the schema does not allow (:mod:`streams.codecs.avro.json_form`,
        compiled once per schema). The :class:`SchemaMismatch` says what does not fit as :meth:`encode`'s does,
        beginning with ``what`` (``the payload of the erp Account.create command for entity C-1``)."""
        known = self._checks.get(name)
        if known is None:
            stored = self.current(name)
            known = self._checks[name] = (stored, compile_check(stored.parsed))
        stored, check = known
        if check is None:
            return
        try:
            check(value)
        except WRITE_ERRORS as exc:
            raise self._mismatch(what, stored, exc) from exc

    def _mismatch(self, what: str, stored: StoredSchema, exc: BaseException) -> SchemaMismatch:
        """The error of ``what`` (a value of ``stored``'s schema) refused by a writer or a check with ``exc``:
        the field, its value, why, and the fix, naming the schema's file."""
        if isinstance(exc, FieldValueError):
            return SchemaMismatch(f"{what} does not fit {stored.name}: field {exc.field} = {exc.value_text}: "
                                  f"{exc.reason}; fix: {_fix(exc, stored.name, self._file_of(stored.name))}")
        return SchemaMismatch(f"{what} does not fit {stored.name}: {exc}; check field names, types and decimal "
                              f"scales against {self._file_of(stored.name)}")

    def _file_of(self, name: str) -> str:
        """The file that defines schema ``name`` (``schemas/customer.avsc``, or one of the user's own schemas
        folder), for an error's fix."""
        try:
            return str(self.schemas.file(name).path)
        except Exception:  # only an error's wording: never a second error
            return "its .avsc file"

    def decode(self, data: bytes, reader: str | None = None) -> CanonicalRecord:
        """Decode single-object bytes, resolved to the current version of ``reader`` (default: writer's)."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise NotSingleObject(f"expected Avro single-object bytes starting with C3 01, got "
                                  f"{data[:2].hex() or 'nothing'} ({len(data)} bytes); the producer did not "
                                  "use the avro-canonical codec")
        writer = self.by_fingerprint(data[2:HEADER_SIZE])
        target = self.current(reader or writer.name)
        body = io.BytesIO(data[HEADER_SIZE:])
        try:
            value = schemaless_reader(body, writer.parsed, self.reader_for(writer, target))
        except Exception as exc:  # fastavro raises EOFError, ValueError, SchemaResolutionError, ...
            raise SchemaMismatch(f"the body does not decode as {writer.name} ({writer.version}) read as "
                                 f"{target.name}: {exc}") from exc
        if body.tell() != len(data) - HEADER_SIZE:
            left = len(data) - HEADER_SIZE - body.tell()
            raise SchemaMismatch(f"{left} bytes left over after decoding {writer.name} ({writer.version}); "
                                 "the bytes were written with another schema")
        if not isinstance(value, dict):
            raise SchemaMismatch(f"{writer.name} decoded to {type(value).__name__}, not a record")
        return CanonicalRecord(schema=target.name, value=value)


def _fix(error: FieldValueError, schema: str, where: str) -> str:
    """How to make a value of the field fit: for a decimal, round or limit it in the mapping, or widen the field."""
    if error.decimal:
        return (f"round or limit the value in the mapping that fills {error.field} (the transform `decimal: "
                "{scale: <the field's scale>, rounding: half_even}`, or a bound in its `compute`), or widen the "
                f"field's precision and scale in {schema}'s schema, {where} (mappings/README.md, Checks at load)")
    if error.shown and error.value is None:
        return (f"the field (or an item of it) is not nullable in {schema}'s schema, {where}: make it a union "
                "with null there (an array of a nullable item type for a PostgreSQL array, whose items may be NULL), "
                "or give the mapping a default")
    return f"check the field's name and type in {schema}'s schema, {where}, against the value the mapping gives it"
