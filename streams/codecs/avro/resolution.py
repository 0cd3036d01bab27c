"""Read an enum a writer wrote into the reader's ``string``: the one resolution Avro lacks and Isthmus needs.

Avro promotes ``string`` to ``bytes`` and numbers to wider numbers, never an enum to a string. Yet that is how
the name of a system evolved (``System`` was the enum ``[crm, erp]``; it is now a string naming any declared
system), and records written with the enum stay on the topics. An enum is written as the index of its symbol,
so a string reader cannot decode it; but a reader that declares the writer's own enum where it has ``string``
decodes it, and fastavro returns an enum value as its symbol, a ``str``: exactly the string the current schema
holds. :func:`read_as` builds that reader. ``streams.codecs.avro.compatibility`` names the same rule
(``ENUM_AS_STRING``) and accepts it in this direction only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.codecs.avro.schemas import Schema, definitions


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Rewriter:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.reader_names = definitions(reader)
        self.writer_names = definitions(writer)
        self.writer_records = {_short(n): d for n, d in self.writer_names.items()
                               if d["type"] in ("record", "error")}
        self.emitted: set[str] = set()
        self.changed = False

    def deref(self, node: Any, names: Mapping[str, Any]) -> Any:
        while isinstance(node, str) and node in names:
            node = names[node]
        return node

    def writer_enum(self, writer: Any) -> dict[str, Any] | None:
        found = self.deref(writer, self.writer_names)
        if isinstance(found, dict) and found.get("type") == "enum":
            return found
        return None

    def enum_in_place_of_string(self, enum: dict[str, Any]) -> Any:
        """The writer's enum, defined at its first use in the reader and referred to by name after that."""
        if enum["name"] in self.reader_names:
            return None  # the reader has a type of that name: normal resolution decides, nothing to rewrite
        self.changed = True
        if enum["name"] in self.emitted:
            return enum["name"]
        self.emitted.add(enum["name"])
        return dict(enum)

    def node(self, reader: Any, writer: Any) -> Any:
        """The reader node, with every plain ``string`` that meets a writer enum replaced by that enum."""
        if _plain_string(reader):
            enum = self.writer_enum(writer)
            replaced = self.enum_in_place_of_string(enum) if enum is not None else None
            return reader if replaced is None else replaced
        if isinstance(reader, list):
            return self.union(reader, writer)
        if not isinstance(reader, dict):
            return reader  # a primitive, or a named type rewritten where it is defined
        kind = reader.get("type")
        written = self.deref(writer, self.writer_names)
        if kind in ("record", "error"):
            return self.record(reader)
        if kind == "array":
            items = written.get("items") if isinstance(written, dict) and written.get("type") == "array" else None
            return {**reader, "items": self.node(reader["items"], items)}
        if kind == "map":
            values = written.get("values") if isinstance(written, dict) and written.get("type") == "map" else None
            return {**reader, "values": self.node(reader["values"], values)}
        if isinstance(kind, (dict, list)):
            return {**reader, "type": self.node(kind, writer)}
        return reader

    def union(self, reader: list[Any], writer: Any) -> list[Any]:
        """A union with a plain ``string`` branch gains each enum the writer (or a writer branch) wrote that the
        union has no branch of its own for; the writer's other branches resolve as before."""
        branches = [self.deref(b, self.writer_names) for b in (writer if isinstance(writer, list) else [writer])]
        out: list[Any] = []
        for branch in reader:
            if isinstance(branch, dict):
                match = next((b for b in branches if isinstance(b, dict) and b.get("type") == branch.get("type")),
                             None)
                out.append(self.node(branch, match))
            else:
                out.append(branch)
        if any(_plain_string(self.deref(b, self.reader_names)) for b in reader):
            for enum in (b for b in branches if isinstance(b, dict) and b.get("type") == "enum"):
                added = self.enum_in_place_of_string(enum)
                if added is not None:
                    out.append(added)
        return out

    def record(self, reader: dict[str, Any]) -> dict[str, Any]:
        names = (_short(reader["name"]), *(_short(a) for a in reader.get("aliases", ())))
        written = next((self.writer_records[n] for n in names if n in self.writer_records), None)
        by_name = {f["name"]: f for f in written["fields"]} if written is not None else {}
        fields = []
        for item in reader["fields"]:
            source = next((by_name[n] for n in (item["name"], *item.get("aliases", ())) if n in by_name), None)
            new_type = self.node(item["type"], source["type"] if source is not None else None)
            new = {**item, "type": new_type}
            if source is not None and new_type != item["type"]:
                new.pop("default", None)  # the writer writes this field: the default is never used, and a
                # string default need not be one of the enum's symbols
            fields.append(new)
        return {**reader, "fields": fields}


def _plain_string(node: Any) -> bool:
    """``string`` without a logical type (a ``uuid`` string is not a place for an enum's symbol)."""
    return node == "string" or (isinstance(node, dict) and node.get("type") == "string"
                                and "logicalType" not in node)


def read_as(reader: Schema, writer: Schema) -> Schema | None:
    """``reader`` with each plain ``string`` the writer wrote as an enum declared as that enum, so fastavro
    resolves the writer's data and yields the symbol as the string; ``None`` when no such field exists."""
    rewriter = _Rewriter(reader, writer)
    result: Schema = rewriter.node(reader, writer)
    return result if rewriter.changed else None
