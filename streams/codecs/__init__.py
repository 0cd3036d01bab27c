"""Decoding Debezium change events and encoding canonical Avro records.

``debezium/``: the JsonConverter envelope and its field values. ``avro/``: the canonical schemas, their
compatibility check and single-object encoding.
"""

from streams.codecs.avro.compatibility import Compatibility, assert_compatible, check_compatibility
from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.codecs.avro.single_object import CanonicalRecord, SchemaStore
from streams.codecs.debezium.envelope import (
    ChangeEvent,
    MessageEvent,
    Op,
    Source,
    Tombstone,
    TransactionBlock,
    TransactionEvent,
    TransactionStatus,
    decode,
    decode_key,
)
from streams.codecs.local_time import local_to_utc, utc_to_local

__all__ = [
    "CanonicalRecord", "ChangeEvent", "Compatibility", "MessageEvent", "Op", "SchemaSet", "SchemaStore",
    "Source", "Tombstone", "TransactionBlock", "TransactionEvent", "TransactionStatus", "assert_compatible",
    "check_compatibility", "decode", "decode_key", "load_schemas", "local_to_utc", "utc_to_local",
]
