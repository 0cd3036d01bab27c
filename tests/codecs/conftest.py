"""Shared fixtures of the codec tests: captured Debezium records, hand-made envelopes, the schema store.

Helpers are handed out as fixtures: this folder has no ``__init__.py`` (a package named ``codecs`` would
shadow the standard library), so test modules cannot import from here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.codecs.avro.single_object import SchemaStore

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Captured:
    """One Kafka record as the dev Connect wrote it, bytes as a consumer sees them."""

    name: str
    topic: str
    key: bytes | None
    value: bytes | None


def load_captured(name: str) -> Captured:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return Captured(name=name, topic=data["topic"], key=_encoded(data["key"]), value=_encoded(data["value"]))


def _encoded(document: Any) -> bytes | None:
    return None if document is None else json.dumps(document).encode()


def captured_names(prefix: str = "") -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob(f"{prefix}*.json"))


@pytest.fixture
def captured() -> Callable[[str], Captured]:
    return load_captured


def decimal_bytes(value: Decimal, scale: int) -> str:
    """Base64 of the unscaled two's-complement integer, as Connect writes a Decimal."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int) and exponent + scale >= 0, "value has more decimals than the scale"
    unscaled = (-1 if sign else 1) * int("".join(map(str, digits))) * 10 ** (exponent + scale)
    size = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def source_block(**overrides: Any) -> dict[str, Any]:
    block = {
        "version": "3.6.1.Final",
        "connector": "postgresql",
        "name": "test",
        "ts_ms": 1710000000123,
        "ts_us": 1710000000123456,
        "snapshot": "false",
        "db": "crm",
        "schema": "crm",
        "table": "things",
        "txId": 42,
        "lsn": 1000,
    }
    block.update(overrides)
    return block


SOURCE_SCHEMA = {
    "type": "struct",
    "name": "io.debezium.connector.postgresql.Source",
    "optional": False,
    "fields": [
        {"field": f, "type": t, "optional": o}
        for f, t, o in (
            ("version", "string", False),
            ("connector", "string", False),
            ("name", "string", False),
            ("ts_ms", "int64", False),
            ("ts_us", "int64", True),
            ("snapshot", "string", True),
            ("db", "string", False),
            ("schema", "string", True),
            ("table", "string", True),
            ("txId", "int64", True),
            ("lsn", "int64", True),
        )
    ],
}


def envelope(
    fields: list[dict[str, Any]],
    *,
    op: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> bytes:
    """A JsonConverter value with schemas enabled, for rows with the given Connect field schemas."""
    row = {"type": "struct", "name": "test.crm.things.Value", "optional": True, "fields": fields}
    schema = {
        "type": "struct",
        "name": "test.crm.things.Envelope",
        "optional": False,
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            {**SOURCE_SCHEMA, "field": "source"},
            {"field": "op", "type": "string", "optional": False},
            {"field": "ts_ms", "type": "int64", "optional": True},
        ],
    }
    payload = {
        "before": before,
        "after": after,
        "source": source or source_block(),
        "op": op,
        "ts_ms": 1710000000999,
    }
    return json.dumps({"schema": schema, "payload": payload}).encode()


@pytest.fixture
def make_envelope() -> Callable[..., bytes]:
    return envelope


@pytest.fixture
def make_source() -> Callable[..., dict[str, Any]]:
    return source_block


@pytest.fixture
def decimal_b64() -> Callable[[Decimal, int], str]:
    return decimal_bytes


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return load_schemas()


@pytest.fixture(scope="session")
def store(schemas: SchemaSet) -> SchemaStore:
    return SchemaStore(schemas)
