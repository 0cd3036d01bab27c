"""Every current schema can read, and be read by, each earlier version kept in schemas/history/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.compatibility import check_compatibility
from streams.codecs.avro.schemas import SCHEMA_DIR, SchemaVersion, load_schemas
from streams.codecs.exceptions import SchemaLoadError

CURRENT = load_schemas()
VERSIONS = [(name, version) for name in CURRENT.names() for version in CURRENT.versions(name)]


def test_history_is_not_empty() -> None:
    assert (SCHEMA_DIR / "history").is_dir() and VERSIONS


@pytest.mark.parametrize(
    ("name", "version"), VERSIONS, ids=[f"{n.rpartition('.')[2]}-v{v.version}" for n, v in VERSIONS]
)
def test_current_schema_is_fully_compatible_with_its_history(name: str, version: SchemaVersion) -> None:
    assert check_compatibility(version.schema, CURRENT.standalone(name), "full") == ()


def test_history_file_for_a_missing_schema_is_refused(write_schema: Callable[[str, Any], Path]) -> None:
    write_schema("a.avsc", {"type": "enum", "name": "A", "symbols": ["x"], "doc": "d"})
    folder = write_schema("history/b.v1.avsc", {"type": "enum", "name": "B", "symbols": ["x"], "doc": "d"})
    with pytest.raises(SchemaLoadError, match=r"no current schemas/b\.avsc"):
        load_schemas(folder)


def test_history_file_must_keep_the_name(write_schema: Callable[[str, Any], Path]) -> None:
    write_schema("a.avsc", {"type": "enum", "name": "A", "symbols": ["x"], "doc": "d"})
    folder = write_schema("history/a.v1.avsc", {"type": "enum", "name": "Old", "symbols": ["x"], "doc": "d"})
    with pytest.raises(SchemaLoadError, match="keeps the name"):
        load_schemas(folder)


def test_history_versions_are_ordered_and_resolve_other_types(
    write_schema: Callable[[str, Any], Path],
) -> None:
    write_schema("e.avsc", {"type": "enum", "name": "E", "symbols": ["x", "y"], "default": "x", "doc": "d"})
    record = {"type": "record", "name": "R", "doc": "d", "fields": [{"name": "e", "type": "E", "doc": "d"}]}
    write_schema(
        "r.avsc",
        {**record, "fields": [*record["fields"], {"name": "n", "type": "int", "default": 0, "doc": "d"}]},
    )
    write_schema("history/r.v2.avsc", record)
    folder = write_schema("history/r.v1.avsc", record)
    loaded = load_schemas(folder)
    assert [v.version for v in loaded.versions("R")] == [1, 2]
    assert check_compatibility(loaded.versions("R")[0].schema, loaded.standalone("R")) == ()
