"""Every current schema can read, and be read by, each earlier version kept in schemas/history/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.compatibility import ENUM_AS_STRING, check_compatibility
from streams.codecs.avro.schemas import SCHEMA_DIR, SchemaVersion, load_schemas
from streams.codecs.exceptions import SchemaLoadError

CURRENT = load_schemas()
VERSIONS = [(name, version) for name in CURRENT.names() for version in CURRENT.versions(name)]


def test_history_is_not_empty() -> None:
    assert (SCHEMA_DIR / "history").is_dir() and VERSIONS


@pytest.mark.parametrize(
    ("name", "version"), VERSIONS, ids=[f"{n.rpartition('.')[2]}-v{v.version}" for n, v in VERSIONS]
)
def test_current_schema_is_compatible_with_its_history_as_declared(name: str, version: SchemaVersion) -> None:
    """Full unless the copy declares backward; then the current schema still reads the copy's data, and the only
    thing the old reader cannot read is a string where it has an enum (rule enum-as-string), nothing else."""
    current = CURRENT.standalone(name)
    assert check_compatibility(version.schema, current, "backward") == ()
    forward = check_compatibility(version.schema, current, "forward")
    if version.compatibility == "full":
        assert forward == ()
    else:
        assert forward and {p.rule for p in forward} == {ENUM_AS_STRING}


def test_only_the_system_evolution_is_declared_backward_only() -> None:
    """``System`` became a string (issue 13): exactly the published schemas that embedded it are backward-only."""
    backward = {f"{n.rpartition('.')[2]}.v{v.version}" for n, v in VERSIONS if v.compatibility == "backward"}
    assert backward == {"Command.v1", "CommandResult.v1", "ConflictRecord.v1", "Customer.v2", "Customer360.v1",
                        "FieldStamp.v1", "SourcePosition.v1"}


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


def test_a_self_contained_history_copy_keeps_its_own_definitions(write_schema: Callable[[str, Any], Path]) -> None:
    """A copy that defines an embedded type inline keeps that type as published, though the current file of the
    type changed since (``System`` was an enum, is a string now): its fingerprint stays the one it wrote with."""
    write_schema("e.avsc", {"type": "enum", "name": "E", "symbols": ["x", "y", "z"], "doc": "d"})
    write_schema("r.avsc", {"type": "record", "name": "R", "doc": "d",
                            "fields": [{"name": "e", "type": "string", "doc": "d"}]})
    old_e = {"type": "enum", "name": "E", "symbols": ["x", "y"], "doc": "d"}
    folder = write_schema("history/r.v1.avsc", {
        "type": "record", "name": "R", "doc": "d",
        "compatibility": "backward", "compatibility_reason": "E became a string",
        "fields": [{"name": "e", "type": old_e, "doc": "d"}]})
    (v1,) = load_schemas(folder).versions("R")
    assert isinstance(v1.schema, dict) and v1.schema["fields"][0]["type"]["symbols"] == ["x", "y"]
    assert v1.compatibility == "backward"


@pytest.mark.parametrize(("declared", "error"), [
    ({"compatibility": "forward"}, "not one of full, backward"),
    ({"compatibility": "backward"}, "needs a compatibility_reason"),
    ({"compatibility": "backward", "compatibility_reason": " "}, "needs a compatibility_reason"),
])
def test_a_weaker_compatibility_must_be_a_known_mode_with_a_reason(
    write_schema: Callable[[str, Any], Path], declared: dict[str, str], error: str,
) -> None:
    write_schema("a.avsc", {"type": "enum", "name": "A", "symbols": ["x"], "doc": "d"})
    folder = write_schema("history/a.v1.avsc", {"type": "enum", "name": "A", "symbols": ["x"], "doc": "d", **declared})
    with pytest.raises(SchemaLoadError, match=error) as caught:
        load_schemas(folder)
    assert "a.v1.avsc" in str(caught.value)
