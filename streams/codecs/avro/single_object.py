"""Avro single-object encoding: ``C3 01``, the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint,
then the binary body. No schema registry can be had from the package registries this project uses (see
schemas/README.md), so a reader finds the writer schema by fingerprint in a store built from ``schemas/``,
current and historical versions, and resolves it to the reader's (current) schema.

The fingerprint is that of Avro's Parsing Canonical Form, which leaves out logical types, precision and scale:
two versions that differ only there (``decimal(10, 2)`` edited to ``decimal(14, 4)``) share it, and a reader
would read one's records with the other, silently wrong. So the store refuses such a pair at load, and checks
the schemas the writers recorded (:class:`WrittenSchema`, :mod:`streams.kafka.written_schemas`) the same way.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import parse_schema

from streams.codecs.avro.compatibility import Incompatibility, meaning_differs
from streams.codecs.avro.json_form import Check, compile_check
from streams.codecs.avro.resolution import read_as
from streams.codecs.avro.schemas import Schema, SchemaSet, fingerprint, load_schemas
from streams.codecs.avro.writer import WRITE_ERRORS, FieldValueError, Writer, compile_writer
from streams.codecs.exceptions import (
    NotSingleObject,
    SchemaLoadError,
    SchemaMismatch,
    UnknownFingerprint,
    UnknownSchema,
)

log = logging.getLogger(__name__)

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8
#: Seconds a fingerprint neither the files nor the recorded schemas know is not asked about again.
LOOKUP_AGAIN_S = 30.0


@dataclass(frozen=True, kw_only=True)
class StoredSchema:
    """One schema version the store can read or write: its full name, version label and fingerprint."""

    name: str
    version: str
    fingerprint: bytes
    schema: Schema
    parsed: dict[str, Any]
    source: str = ""
    """Where it comes from, for errors: its file, or where a writer recorded it (:class:`WrittenSchema`)."""


@dataclass(frozen=True, kw_only=True)
class WrittenSchema:
    """A schema records were written with, as its writer recorded it: the full schema, logical types included,
    which its fingerprint alone does not tell (:mod:`streams.kafka.written_schemas` keeps them in Kafka)."""

    name: str
    fingerprint: bytes
    schema: Schema
    written_at: str
    """When it was first recorded (ISO 8601, UTC)."""
    where: str = ""
    """Where it is recorded (the topic)."""

    @property
    def source(self) -> str:
        return f"the schema recorded in {self.where or 'the written schemas'} (written before, {self.written_at})"


#: Looks a fingerprint up among the recorded schemas: those recorded with it (none: not recorded).
Lookup = Callable[[bytes], tuple[WrittenSchema, ...]]


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
        alike: dict[bytes, list[StoredSchema]] = {}
        for name in schemas.names():
            standalone = schemas.standalone(name)
            stored = StoredSchema(name=name, version="current", fingerprint=fingerprint(standalone),
                                  schema=standalone, parsed=schemas.parsed(name), source=str(schemas.file(name).path))
            current[name] = stored
            known[stored.fingerprint] = stored
            alike.setdefault(stored.fingerprint, []).append(stored)
            for old in reversed(schemas.versions(name)):  # the newest first: the copy an edit most likely forgot
                print_ = fingerprint(old.schema)
                version = StoredSchema(name=name, version=f"v{old.version}", fingerprint=print_, schema=old.schema,
                                       parsed=_parse(old.schema), source=str(old.file.path))
                known.setdefault(print_, version)
                alike.setdefault(print_, []).append(version)
        for versions in alike.values():  # one meaning per fingerprint, or records are read as what they are not
            for index, first in enumerate(versions):
                for second in versions[index + 1:]:
                    _refuse_homonyms(first, second.schema, second.source)
        self._current = MappingProxyType(current)
        self._known = known
        self._by_fingerprint = MappingProxyType(known)
        #: Schemas encoded with since load that no writer has recorded yet (:meth:`unrecorded`).
        self._unrecorded: dict[bytes, StoredSchema] = {}
        self._recorded: set[bytes] = set()
        #: Where :meth:`by_fingerprint` looks up a fingerprint no file knows (:mod:`streams.kafka.written_schemas`).
        self.lookup: Lookup | None = None
        self._not_found: dict[bytes, float] = {}
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
            found = self._looked_up(value)
            if found is not None:
                return found
            raise UnknownFingerprint(
                f"no known schema has fingerprint {value.hex()}; the writer used a schema this worker does "
                "not have: deploy the writer's schemas/ (or its history/ copy) here") from None

    def _looked_up(self, value: bytes) -> StoredSchema | None:
        """The schema a writer recorded for a fingerprint no file knows (asked at most every
        :data:`LOOKUP_AGAIN_S` per fingerprint), kept from then on, and said once: schemas/history/ lacks it."""
        if self.lookup is None or time.monotonic() < self._not_found.get(value, -LOOKUP_AGAIN_S) + LOOKUP_AGAIN_S:
            return None
        found = self.lookup(value)
        if not found:
            self._not_found[value] = time.monotonic()
            return None
        written = found[0]
        stored = StoredSchema(name=written.name, version=f"recorded {written.written_at}", fingerprint=value,
                              schema=written.schema, parsed=_parse(written.schema), source=written.source)
        for other in found[1:]:  # two writers edited one schema differently: neither can be trusted
            _refuse_homonyms(stored, other.schema, other.source)
        self._known[value] = stored
        self._recorded.add(value)
        log.warning("%s: records with fingerprint %s were written with a version of it no file here has; they are "
                    "read with the one its writer recorded in %s (first written %s). Keep it in your schemas: %s",
                    written.name, value.hex(), written.where, written.written_at, self.keep_hint(written))
        return stored

    def keep_hint(self, written: WrittenSchema) -> str:
        """How to add a recorded schema to history/, so every reader has it from its files."""
        shown = f"isthmus topics schemas --show {written.fingerprint.hex()}"
        try:
            name = self.schemas.resolve(written.name, top_level=True)
        except UnknownSchema:
            return f"`{shown}` prints it; no current file defines {written.name}, so restore one first"
        path = self.schemas.file(name).path
        number = max((v.version for v in self.schemas.versions(name)), default=0) + 1
        return f"`{shown} > {path.parent / 'history' / f'{path.stem}.v{number}.avsc'}` (schemas/README.md, Versions)"

    def check_written(self, written: Iterable[WrittenSchema]) -> None:
        """Refuse to go on when a schema writers recorded has the fingerprint of a known version but another
        meaning (the current schema edited in place without a history copy): records written with it would be
        read as the other. Those recorded as known need no recording again (:meth:`unrecorded`)."""
        for recorded in written:
            known = self._known.get(recorded.fingerprint)
            if known is None:
                continue
            _refuse_homonyms(known, recorded.schema, recorded.source)
            self._recorded.add(recorded.fingerprint)
            self._unrecorded.pop(recorded.fingerprint, None)

    def unrecorded(self) -> tuple[StoredSchema, ...]:
        """The versions encoded with since load whose recording no writer has confirmed (:meth:`recorded`):
        each is recorded once per process, in the transaction of the first records written with it."""
        return tuple(self._unrecorded.values())

    def recorded(self, fingerprints: Iterable[bytes]) -> None:
        """The versions of ``fingerprints`` are recorded (their transaction committed)."""
        for value in fingerprints:
            self._recorded.add(value)
            self._unrecorded.pop(value, None)

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
            if stored.fingerprint not in self._recorded:
                self._unrecorded[stored.fingerprint] = stored
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


def _refuse_homonyms(known: StoredSchema, other: Schema, source: str) -> None:
    """Raise when ``other`` (from ``source``) has ``known``'s fingerprint but is read otherwise: where, both
    types, and the fix (a logical type changes under a record name of its own)."""
    problems = meaning_differs(known.schema, other)
    if problems:
        raise SchemaLoadError(_homonyms(known, source, problems[0]))


def _homonyms(known: StoredSchema, source: str, problem: Incompatibility) -> str:
    path = re.sub(r"<[^>]*>", "", problem.path)
    field_name = path.rpartition(".")[2]
    now, then = problem.reader_type, problem.writer_type
    namespace, _, short = known.name.rpartition(".")
    stem, digits = re.fullmatch(r"(.*?)(\d*)", short).groups()  # type: ignore[union-attr]
    renamed = f"{stem}{int(digits or 1) + 1}"
    text = (f"{known.source} and {source} have the same fingerprint {known.fingerprint.hex()} but read it "
            f"differently: {path} is {now} in the first and {then} in the second. A record names its writer's "
            "schema by this fingerprint alone (CRC-64-AVRO of Avro's Parsing Canonical Form, which leaves out "
            "logical types, precision and scale), so records written with one would be read with the other, "
            "silently wrong (a decimal at another scale, micros as millis). ")
    if known.version != "current":
        return text + ("Only one of them is what its records were written with (a history copy is the schema as "
                       "it was published): remove the copy made after an edit in place, and give a changed logical "
                       "type a record name of its own (schemas/README.md, Versions and compatibility).")
    file_stem = re.sub(r"(?<!^)(?=[A-Z])", "_", renamed).lower()
    return text + (f"A logical type is never changed in place (schemas/README.md, Versions and compatibility): "
                   f"put {field_name} back to {then} in {known.source}, as its records were written, and give the "
                   f"new form a record name of its own, e.g. {'.'.join(filter(None, (namespace, renamed)))} in "
                   f"{file_stem}.avsc with {field_name} {now}, made the target of the mappings that write it; "
                   f"records written before keep reading as {short}.")


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
