"""Does a dotted path name a field of a payload's Avro schema? Checked when a target file is loaded, so a
misspelt field is refused at start rather than silently sent as nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.schemas import Schema, definitions


def _branches(node: Any, names: dict[str, dict[str, Any]]) -> list[Any]:
    """The non-null alternatives of a type, with named references resolved."""
    while isinstance(node, str) and node in names:
        node = names[node]
    if isinstance(node, list):
        found: list[Any] = []
        for branch in node:
            if branch != "null":
                found.extend(_branches(branch, names))
        return found
    if isinstance(node, dict) and isinstance(node.get("type"), (dict, list)):
        return _branches(node["type"], names)
    if isinstance(node, dict) and isinstance(node.get("type"), str) and node["type"] in names:
        return _branches(node["type"], names)
    return [node]


def _kind(node: Any) -> str:
    return node if isinstance(node, str) else str(node.get("type"))


@dataclass(frozen=True)
class PayloadShape:
    """A record schema, navigable by dotted paths."""

    schema: Schema
    names: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, schema: Schema) -> PayloadShape:
        return cls(schema, definitions(schema))

    def _records(self, node: Any) -> list[dict[str, Any]]:
        return [b for b in _branches(node, self.names) if isinstance(b, dict) and b.get("type") == "record"]

    def fields(self, node: Any = None) -> list[str]:
        records = self._records(self.schema if node is None else node)
        return [f["name"] for r in records for f in r["fields"]]

    def find(self, path: str, node: Any = None) -> tuple[Any | None, str | None]:
        """The type at ``path`` below ``node`` (default: the root), or None and why not."""
        current: Any = self.schema if node is None else node
        walked: list[str] = []
        for part in path.split("."):
            records = self._records(current)
            if not records:
                kinds = ", ".join(_kind(b) for b in _branches(current, self.names))
                return None, f"{'.'.join(walked)} is a {kinds}, not a record, so it has no field {part!r}"
            match = next((f for r in records for f in r["fields"] if f["name"] == part), None)
            if match is None:
                where = ".".join(walked) or "the payload"
                known = ", ".join(f["name"] for r in records for f in r["fields"])
                return None, f"{where} has no field {part!r}; its fields: {known}"
            current = match["type"]
            walked.append(part)
        return current, None

    def array_item(self, node: Any) -> Any | None:
        """The item type when ``node`` is an array (or a nullable one)."""
        for branch in _branches(node, self.names):
            if isinstance(branch, dict) and branch.get("type") == "array":
                return branch["items"]
        return None

    def is_scalar(self, node: Any) -> bool:
        """True for a type a URL or a SQL column can take: not a record, array or map."""
        return all(not (isinstance(b, dict) and b.get("type") in ("record", "array", "map"))
                   for b in _branches(node, self.names))
