"""The compatibility check: additive changes with defaults pass, breaking changes are named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streams.codecs.avro.compatibility import ENUM_AS_STRING, assert_compatible, can_read, check_compatibility
from streams.codecs.exceptions import SchemaIncompatible

BASE: dict[str, Any] = {
    "type": "record",
    "name": "Thing",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 2}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["open", "paid"]}},
        {"name": "count", "type": "int", "default": 0},
        {
            "name": "at",
            "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            "default": None,
        },
    ],
}


def changed(edit) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    schema = copy.deepcopy(BASE)
    edit(schema["fields"])
    return schema


def field(fields: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f for f in fields if f["name"] == name)


def test_identical_schemas_are_compatible() -> None:
    assert check_compatibility(BASE, copy.deepcopy(BASE)) == ()


def test_additive_field_with_default_passes_both_ways() -> None:
    new = changed(lambda f: f.append({"name": "note", "type": ["null", "string"], "default": None}))
    assert check_compatibility(BASE, new, "full") == ()


def test_additive_field_without_default_breaks_backward_only() -> None:
    new = changed(lambda f: f.append({"name": "note", "type": "string"}))
    assert check_compatibility(BASE, new, "forward") == ()
    problems = check_compatibility(BASE, new, "backward")
    assert (
        len(problems) == 1 and problems[0].path == "Thing.note" and "give it a default" in problems[0].message
    )


def test_removing_a_field_without_default_breaks_forward() -> None:
    new = changed(lambda f: f.remove(field(f, "id")))
    problems = check_compatibility(BASE, new, "full")
    assert [p.direction for p in problems] == ["forward (old reads new)"] and problems[0].path == "Thing.id"


def test_removing_a_field_with_default_passes() -> None:
    assert check_compatibility(BASE, changed(lambda f: f.remove(field(f, "count")))) == ()


def test_changing_a_type_is_detected() -> None:
    new = changed(lambda f: field(f, "id").update(type="long"))
    problems = check_compatibility(BASE, new)
    assert {p.path for p in problems} == {"Thing.id"} and len(problems) == 2


def test_type_promotion_is_backward_compatible_only() -> None:
    new = changed(lambda f: field(f, "count").update(type="long"))
    assert check_compatibility(BASE, new, "backward") == ()
    assert check_compatibility(BASE, new, "forward")


def test_decimal_scale_change_is_detected_although_bytes_would_resolve() -> None:
    new = changed(lambda f: field(f, "amount")["type"].update(scale=3))
    problems = check_compatibility(BASE, new)
    assert problems and all("decimal(14, 3)" in p.message for p in problems)


def test_millis_against_micros_is_detected() -> None:
    new = changed(
        lambda f: field(f, "at").update(type=["null", {"type": "long", "logicalType": "timestamp-millis"}])
    )
    assert check_compatibility(BASE, new)


def test_new_enum_symbol_breaks_forward_unless_the_enum_has_a_default() -> None:
    new = changed(lambda f: field(f, "status")["type"].update(symbols=["open", "paid", "void"]))
    assert check_compatibility(BASE, new, "backward") == ()
    assert "void" in check_compatibility(BASE, new, "forward")[0].message
    with_default = changed(lambda f: field(f, "status")["type"].update(default="open"))
    newer = copy.deepcopy(with_default)
    field(newer["fields"], "status")["type"]["symbols"].append("void")
    assert check_compatibility(with_default, newer, "full") == ()


def test_nullable_field_becoming_required_breaks_backward() -> None:
    new = changed(lambda f: field(f, "at").update(type={"type": "long", "logicalType": "timestamp-micros"}))
    problems = can_read(new, BASE)
    assert problems and "null" in problems[0].message


def test_renamed_field_with_alias_passes_backward() -> None:
    new = changed(lambda f: field(f, "count").update(name="total", aliases=["count"], default=0))
    assert check_compatibility(BASE, new, "backward") == ()


def test_renamed_record_is_detected() -> None:
    new = copy.deepcopy(BASE)
    new["name"] = "Other"
    assert "keep the name or add an alias" in check_compatibility(BASE, new)[0].message


def test_assert_compatible_explains_every_problem_and_the_fix() -> None:
    new = changed(lambda f: (field(f, "id").update(type="long"), f.append({"name": "x", "type": "int"})))
    with pytest.raises(SchemaIncompatible) as caught:
        assert_compatible(BASE, new, label="schemas/thing.avsc")
    message = str(caught.value)
    assert "schemas/thing.avsc is not full-compatible" in message
    assert "Thing.id" in message and "Thing.x" in message and "new schema name" in message


def test_recursive_schemas_terminate() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"], "default": None}],
    }
    assert check_compatibility(node, copy.deepcopy(node)) == ()


def test_enum_read_as_string_is_backward_compatible_only() -> None:
    """Rule enum-as-string (``System`` became a string): the new string reads the old enum's data; the old enum
    cannot read the new string's, and the problem is named as that rule, not as any type change."""
    new = changed(lambda f: field(f, "status").update(type="string"))
    assert check_compatibility(BASE, new, "backward") == ()
    (problem,) = check_compatibility(BASE, new, "forward")
    assert problem.path == "Thing.status" and problem.rule == ENUM_AS_STRING
    assert "enum Status" in problem.message and "backward-only" in problem.message


def test_enum_as_string_needs_a_plain_string() -> None:
    """A string with a logical type (a uuid) is no place for a symbol, and an enum read as bytes is no rule."""
    for kind in ({"type": "string", "logicalType": "uuid"}, "bytes"):
        new = changed(lambda f, kind=kind: field(f, "status").update(type=kind))
        (problem,) = check_compatibility(BASE, new, "backward")
        assert problem.rule == "" and "expects" in problem.message


def test_enum_as_string_in_a_union_prefers_the_readers_own_enum() -> None:
    """A nullable string reads the enum; a union that still has the enum resolves to it, as Avro does."""
    new = changed(lambda f: field(f, "status").update(type=["null", "string"], default=None))
    assert check_compatibility(BASE, new, "backward") == ()
    forward = {p.path: p.rule for p in check_compatibility(BASE, new, "forward")}
    assert forward == {"Thing.status<null#0>": "", "Thing.status<string#1>": ENUM_AS_STRING}
    status = field(BASE["fields"], "status")["type"]
    both = changed(lambda f: field(f, "status").update(type=["string", {**status, "symbols": ["open"]}]))
    assert "paid" in check_compatibility(BASE, both, "backward")[0].message
