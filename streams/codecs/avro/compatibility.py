"""Can one version of a schema read data written with another? Avro's resolution rules, checked up front.

Backward: the new schema reads data written with the old one (consumers upgrade first). Forward: the old
schema reads data written with the new one (producers upgrade first). Full: both. Beyond the resolution rules,
logical types must agree (a decimal's scale and precision, millis against micros), because a bare ``bytes`` or
``long`` would resolve but mean something else.

One rule goes beyond Avro's promotions, :data:`ENUM_AS_STRING`: a reader's plain ``string`` reads a writer's
enum as its symbol. Avro itself cannot (an enum is written as an index), but the schema store reads it so
(``streams.codecs.avro.resolution``), which is how records written while ``System`` was an enum still read now
that a system is any declared name. The rule is one-way: a reader with the enum cannot read a string, so the
change is backward-compatible only, and a reader of before it is told so by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from streams.codecs.avro.schemas import NAMED_KINDS, Schema, definitions
from streams.codecs.exceptions import SchemaIncompatible

#: The one resolution beyond Avro's: a writer's enum read by a plain ``string`` reader yields the symbol.
ENUM_AS_STRING = "enum-as-string"

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


class Compatibility(StrEnum):
    BACKWARD = "backward"
    FORWARD = "forward"
    FULL = "full"


@dataclass(frozen=True, kw_only=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data: where in the schema, and why."""

    direction: str
    path: str
    message: str
    rule: str = ""
    """The named rule the problem falls under (:data:`ENUM_AS_STRING`), or empty for Avro's own rules."""
    reader_type: str = ""
    """Where the logical types differ: the reader's (``decimal(14, 4)``, ``timestamp-micros``, ``plain long``)."""
    writer_type: str = ""
    """Where the logical types differ: the writer's."""

    def __str__(self) -> str:
        return f"{self.direction}: {self.path}: {self.message}"


def _kind(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    kind = node["type"]
    return kind if isinstance(kind, str) else _kind(kind)


def _logical(node: Any) -> tuple[Any, ...] | None:
    if not isinstance(node, dict) or "logicalType" not in node:
        return None
    if node["logicalType"] == "decimal":
        return ("decimal", node.get("precision"), node.get("scale", 0))
    return (node["logicalType"],)


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Checker:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.reader_names = definitions(reader)
        self.writer_names = definitions(writer)
        self.problems: list[tuple[str, str, str, tuple[str, str]]] = []
        self.in_progress: set[tuple[str, str]] = set()

    def resolve(self, node: Any, names: Mapping[str, Any]) -> Any:
        while isinstance(node, str) and node in names:
            node = names[node]
        if isinstance(node, dict) and not isinstance(node["type"], str):
            return self.resolve(node["type"], names) if _logical(node) is None else node
        return node

    def fail(self, path: str, message: str, rule: str = "", types: tuple[str, str] = ("", "")) -> None:
        self.problems.append((path, message, rule, types))

    def matches(self, reader: Any, writer: Any) -> bool:
        """Whether a reader branch is the one schema resolution picks for the writer: same kind and name."""
        r, w = self.resolve(reader, self.reader_names), self.resolve(writer, self.writer_names)
        rk, wk = _kind(r), _kind(w)
        if rk in NAMED_KINDS and wk == rk:
            return bool(_short(r["name"]) == _short(w["name"]) or w["name"] in r.get("aliases", ()))
        return wk == rk or rk in _PROMOTIONS.get(wk, ()) or _enum_as_string(r, w)

    def check(self, reader: Any, writer: Any, path: str) -> None:
        r, w = self.resolve(reader, self.reader_names), self.resolve(writer, self.writer_names)
        rk, wk = _kind(r), _kind(w)
        if wk == "union":
            for index, branch in enumerate(w):
                self.check(r, branch, f"{path}<{_kind(self.resolve(branch, self.writer_names))}#{index}>")
            return
        if rk == "union":
            # a branch of the writer's own kind first: the string branch takes an enum only if none is there
            exact = [b for b in r if self.matches(b, w) and not _enum_as_string(self.resolve(b, self.reader_names), w)]
            for branch in [*exact, *r]:
                if self.matches(branch, w):
                    self.check(branch, w, path)
                    return
            self.fail(path, f"the writer's {wk} matches no branch of the reader's union "
                            f"[{', '.join(_kind(self.resolve(b, self.reader_names)) for b in r)}]")
            return
        if _enum_as_string(r, w):
            return  # ENUM_AS_STRING: the store reads the writer's symbol as the string
        if rk == "enum" and wk == "string" and _logical(w) is None:
            self.fail(path, f"the reader expects the enum {r['name']} where the writer wrote a string: "
                            f"{ENUM_AS_STRING} reads an enum as a string, never back, so a reader of before the "
                            "enum became a string cannot read data written since (the change is backward-only)",
                      ENUM_AS_STRING)
            return
        if rk != wk and rk not in _PROMOTIONS.get(wk, ()):
            self.fail(path, f"the reader expects {rk} where the writer wrote {wk}")
            return
        if _logical(r) != _logical(w):
            types = (_describe(r), _describe(w))
            self.fail(path, f"logical types differ: the reader has {types[0]}, the writer {types[1]}", types=types)
            return
        if rk in ("record", "error"):
            self.check_record(r, w, path)
        elif rk == "enum":
            self.check_enum(r, w, path)
        elif rk == "fixed":
            if _short(r["name"]) != _short(w["name"]) or r["size"] != w["size"]:
                self.fail(path, f"fixed {w['name']}({w['size']}) read as {r['name']}({r['size']})")
        elif rk == "array":
            self.check(r["items"], w["items"], f"{path}[]")
        elif rk == "map":
            self.check(r["values"], w["values"], f"{path}{{}}")

    def check_record(self, r: dict[str, Any], w: dict[str, Any], path: str) -> None:
        if _short(r["name"]) != _short(w["name"]) and w["name"] not in r.get("aliases", ()):
            self.fail(path, f"record {w['name']} is read as {r['name']}; keep the name or add an alias")
            return
        pair = (r["name"], w["name"])
        if pair in self.in_progress:
            return
        self.in_progress.add(pair)
        written = {f["name"]: f for f in w["fields"]}
        for item in r["fields"]:
            names = (item["name"], *item.get("aliases", ()))
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}.{item['name']}"
            if source is not None:
                self.check(item["type"], source["type"], where)
            elif "default" not in item:
                self.fail(where, "the reader needs this field, the writer does not write it, and it has no "
                                 "default; give it a default")
        self.in_progress.discard(pair)

    def check_enum(self, r: dict[str, Any], w: dict[str, Any], path: str) -> None:
        if _short(r["name"]) != _short(w["name"]) and w["name"] not in r.get("aliases", ()):
            self.fail(path, f"enum {w['name']} is read as {r['name']}")
            return
        unknown = [s for s in w["symbols"] if s not in r["symbols"]]
        if unknown and "default" not in r:
            self.fail(path, f"the writer may write {', '.join(unknown)}, which the reader's enum lacks, "
                            "and it has no default symbol; add a default to the enum or keep the symbols")


def _enum_as_string(reader: Any, writer: Any) -> bool:
    """:data:`ENUM_AS_STRING`: a plain ``string`` reader (no logical type) and an enum writer, both resolved."""
    plain = reader == "string" or (isinstance(reader, dict) and reader.get("type") == "string"
                                   and "logicalType" not in reader)
    return plain and isinstance(writer, dict) and writer.get("type") == "enum"


def _describe(node: Any) -> str:
    logical = _logical(node)
    if logical is None:
        return f"plain {_kind(node)}"
    if logical[0] == "decimal":
        return f"decimal({logical[1]}, {logical[2]})"
    return str(logical[0])


def can_read(reader: Schema, writer: Schema, *, direction: str = "read") -> tuple[Incompatibility, ...]:
    """Every reason ``reader`` cannot read data written with ``writer``; empty when it can."""
    checker = _Checker(reader, writer)
    root = reader["name"] if isinstance(reader, dict) and "name" in reader else "schema"
    checker.check(reader, writer, _short(str(root)))
    return tuple(Incompatibility(direction=direction, path=p, message=m, rule=rule, reader_type=types[0],
                                 writer_type=types[1]) for p, m, rule, types in checker.problems)


def meaning_differs(first: Schema, second: Schema) -> tuple[Incompatibility, ...]:
    """Where two schemas of one Parsing Canonical Form, so one fingerprint, read the same bytes differently:
    what that form leaves out and changes a value (a decimal's precision and scale, millis against micros, a
    logical type on one side only). Empty when they mean the same (docs, defaults and aliases may differ)."""
    return can_read(first, second, direction="same fingerprint")


def check_compatibility(old: Schema, new: Schema,
                        mode: Compatibility | str = Compatibility.FULL) -> tuple[Incompatibility, ...]:
    """Problems in the required direction(s) between two self-contained versions of one schema."""
    mode = Compatibility(mode)
    problems: list[Incompatibility] = []
    if mode in (Compatibility.BACKWARD, Compatibility.FULL):
        problems += can_read(new, old, direction="backward (new reads old)")
    if mode in (Compatibility.FORWARD, Compatibility.FULL):
        problems += can_read(old, new, direction="forward (old reads new)")
    return tuple(problems)


def assert_compatible(old: Schema, new: Schema, mode: Compatibility | str = Compatibility.FULL, *,
                      label: str = "schema") -> None:
    problems = check_compatibility(old, new, mode)
    if problems:
        raise SchemaIncompatible(
            f"{label} is not {Compatibility(mode).value}-compatible with its previous version:\n  "
            + "\n  ".join(str(p) for p in problems)
            + "\nadd new fields with defaults, keep names (or add aliases), and never change a type or its "
              "logical type; a breaking change needs a new schema name")
