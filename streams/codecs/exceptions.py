"""Every failure to decode or encode a record, one class each; ``reason`` says what and how to fix it."""

from __future__ import annotations

from streams.errors import IsthmusError


class CodecError(IsthmusError):
    """A record could not be decoded or encoded."""

    def __init__(self, reason: str, *, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class MalformedJson(CodecError):
    """A key or value is not valid JSON (or not UTF-8)."""


class NotAnEnvelope(CodecError):
    """Valid JSON that is not a Debezium change, message or transaction event with its Connect schema."""


class UnknownLogicalType(CodecError):
    """A Connect schema names a logical type this decoder does not know."""


class FieldDecodeError(CodecError):
    """A field's value does not fit its Connect schema."""


class LocalTimeError(CodecError):
    """A zone-less local time cannot be placed in its zone: unknown zone, or a skipped or repeated time."""


class SchemaLoadError(CodecError):
    """An Avro schema file is unreadable, invalid, or refers to a type no schema file defines."""


class SchemaIncompatible(CodecError):
    """Two versions of a schema cannot read each other's data in the required direction."""


class UnknownSchema(CodecError):
    """No schema of that name is in the schema store."""


class NotSingleObject(CodecError):
    """The bytes do not start with the Avro single-object marker C3 01."""


class UnknownFingerprint(CodecError):
    """The single-object fingerprint matches no schema in the store."""


class SchemaMismatch(CodecError):
    """A record does not fit its Avro schema, or bytes do not decode under their fingerprint's schema."""
