"""Turn a command's payload into a request: fill a path template, build a body. Pure functions.

A reference (``billing_address.city``, ``lines.0.sku``) is read from the payload; when the payload holds
null or nothing there and the route has a lookup of that name, the lookup's value is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from streams.sinks.config.model import Constant, EachItem, FieldSpec, FromField, HttpRoute, Lookup, LookupSpec

MISSING: Any = object()
_PLACEHOLDER_OPEN = "{"


class UnresolvedReference(Exception):
    """A path placeholder has no value in the payload and no lookup filled it; ``null``: the payload has the field,
    but null (the source record has no value for it)."""

    def __init__(self, name: str, *, null: bool = False) -> None:
        super().__init__(name)
        self.name = name
        self.null = null

    def why(self) -> str:
        """What is missing and what to do, for a reason that says first which call needed it."""
        if self.null:
            return (f"{self.name}, which is null in this command's payload (the entity has no {self.name} in its "
                    f"source); fill it in the source system, then replay the dead letter")
        return f"{self.name}, which the payload does not have; send it in the payload"


def get_path(value: Any, path: str) -> Any:
    """The value at a dotted path (digits index lists), or ``MISSING``."""
    current = value
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def reference(payload: Mapping[str, Any], name: str, looked_up: Mapping[str, Any]) -> Any:
    found = get_path(payload, name)
    if (found is MISSING or found is None) and name in looked_up:
        return looked_up[name]
    return found


def placeholders(template: str) -> list[str]:
    names: list[str] = []
    rest = template
    while _PLACEHOLDER_OPEN in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        names.append(rest[start + 1:end])
        rest = rest[end + 1:]
    return names


def render_path(template: str, payload: Mapping[str, Any], looked_up: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders, each value percent-encoded as one path segment or query value."""
    rendered = template
    for name in placeholders(template):
        value = reference(payload, name, looked_up)
        if value is MISSING or value is None:
            raise UnresolvedReference(name, null=value is None)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        rendered = rendered.replace("{" + name + "}", quote(text, safe=""), 1)
    return rendered


def missing_references(names: list[str], payload: Mapping[str, Any]) -> list[str]:
    return [n for n in names if get_path(payload, n) in (MISSING, None)]


def lookups_needed(names: list[str], payload: Mapping[str, Any], lookups: Mapping[str, Any]) -> list[str]:
    """The lookups a command needs, whatever its adapter: those of the references ``names`` (a route's
    placeholders, body fields, columns) that the payload leaves null or absent, each once."""
    return list(dict.fromkeys(name for name in missing_references(names, payload) if name in lookups))


def render_fields(specs: Mapping[str, FieldSpec], source: Mapping[str, Any], looked_up: Mapping[str, Any],
                  *, include: frozenset[str] | None = None, keep_nulls: bool = False) -> dict[str, Any]:
    """Build an object from field specs; a null or absent source value is left out unless ``keep_null`` (or
    ``keep_nulls``, which a SQL row uses: every column gets a value).

    ``include`` (top-level payload fields that changed) keeps only specs reading from one of them; constants
    are always kept.
    """
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        if isinstance(spec, Constant):
            out[name] = spec.value
            continue
        if include is not None and spec.path.split(".", 1)[0] not in include:
            continue
        value = reference(source, spec.path, looked_up)
        if value is MISSING or value is None:
            if spec.keep_null or keep_nulls:
                out[name] = None
            continue
        if isinstance(spec, EachItem):
            items = value if isinstance(value, list) else [value]
            out[name] = [render_fields(spec.fields, item if isinstance(item, Mapping) else {}, {})
                         for item in items]
        elif isinstance(spec, FromField):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if spec.json else value
    return out


def body_reads(specs: Mapping[str, FieldSpec]) -> list[tuple[str, bool]]:
    """Each payload path a body reads, with whether it sends a null there (``keep_null``), for
    :func:`unsent_nulls`."""
    return [(spec.path, spec.keep_null) for spec in specs.values() if isinstance(spec, (FromField, EachItem))]


def http_null_reads(route: HttpRoute, payload_fields: Iterable[str]) -> list[tuple[str, bool]]:
    """What an HTTP route's bodies read (its own; its external id's update's), with whether a null is sent there;
    a field a lookup fills when null is never cleared by it. ``body: payload`` sends no null of any of
    ``payload_fields`` (the fields the command's payload holds)."""
    if route.whole_payload:
        return [(name, False) for name in payload_fields]
    update = route.external_id.update if route.external_id is not None else None
    reads = [*body_reads(route.body or {}), *body_reads(update.body if update and update.body else {})]
    return [(path, keeps) for path, keeps in reads if path not in route.lookups]


def null_sent(name: str, reads: Iterable[tuple[str, bool]]) -> bool:
    """Whether a write whose ``reads`` (each payload path it reads, with whether it sends a null there) read
    field ``name`` sends its null: every read of it (or of a path under it) does."""
    sent = [keeps for path, keeps in reads if path == name or path.startswith(name + ".")]
    return bool(sent) and all(sent)


def unsent_nulls(payload: Mapping[str, Any], changed: Iterable[str],
                 reads: Iterable[tuple[str, bool]]) -> list[str]:
    """The fields a command clears (it names them changed and its payload holds null there) that a write of its
    route reads but cannot send as null (``reads``: each payload path its writes read, with whether the null
    there is sent). Left out, the target would keep its old value and the command be reported applied."""
    reads = list(reads)
    return [name for name in changed if get_path(payload, name) is None
            and any(path == name or path.startswith(name + ".") for path, _ in reads) and not null_sent(name, reads)]


def spec_references(specs: Mapping[str, FieldSpec]) -> list[str]:
    """Top-level references of a body (not inside ``each``), for deciding which lookups a call needs."""
    return [spec.path for spec in specs.values() if isinstance(spec, (FromField, EachItem))]


def lookup_reads(lookup: Lookup) -> frozenset[str]:
    """The top-level payload fields a lookup reads: those its ``match`` compares, and an HTTP lookup's path
    placeholders and body fields."""
    reads = [*lookup.match.values()]
    if isinstance(lookup, LookupSpec):
        reads += [*placeholders(lookup.path), *spec_references(lookup.body or {})]
    return frozenset(name.split(".", 1)[0] for name in reads)


def changed_with_lookups(lookups: Mapping[str, Lookup], changed: Iterable[str]) -> frozenset[str]:
    """An ``only_changed`` update's changed payload fields, and each reference a lookup fills whose lookup reads
    one of them: a user moved to another organisation changes its ``organisation_ref``, and the
    ``organisation_id`` a lookup finds by it goes with it (left out, the update changed nothing there and was
    reported applied)."""
    changed = frozenset(changed)
    top = {name.split(".", 1)[0] for name in changed}
    return changed | {name for name, lookup in lookups.items() if lookup_reads(lookup) & top}
