"""Shared fixtures of the schema tests: the repository's schemas, and a scratch schema folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.schemas import SchemaSet, load_schemas


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return load_schemas()


@pytest.fixture
def write_schema(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Write ``<tmp>/<name>`` (a schema as JSON, or raw text) and return the folder."""

    def write(name: str, schema: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema if isinstance(schema, str) else json.dumps(schema, indent=2), encoding="utf-8")
        return tmp_path

    return write
