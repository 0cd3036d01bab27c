"""Render a params template (``config``) from a command's payload. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sinks.adapters.jsonrpc.config import ListTemplate, ObjectTemplate, Template
from streams.sinks.adapters.mapping import MISSING, reference, render_fields
from streams.sinks.config.model import Constant, EachItem, FromField

_OMIT: Any = object()


def _leaf(template: FromField | EachItem, payload: Mapping[str, Any], refs: Mapping[str, Any]) -> Any:
    value = reference(payload, template.path, refs)
    if value is MISSING or value is None:
        return None
    if isinstance(template, EachItem):
        items = value if isinstance(value, list) else [value]
        return [render_fields(template.fields, item if isinstance(item, Mapping) else {}, {}) for item in items]
    return value


def _render(template: Template, payload: Mapping[str, Any], refs: Mapping[str, Any], *, in_object: bool) -> Any:
    if isinstance(template, ListTemplate):
        return [_render(item, payload, refs, in_object=False) for item in template.items]
    if isinstance(template, ObjectTemplate):
        out: dict[str, Any] = {}
        for name, item in template.fields.items():
            value = _render(item, payload, refs, in_object=True)
            if value is not _OMIT:
                out[name] = value
        return out
    if isinstance(template, Constant):
        return template.value
    value = _leaf(template, payload, refs)
    if value is None and in_object and not template.keep_null:
        return _OMIT
    return value


def null_reads(template: Template, *, in_object: bool = False) -> list[tuple[str, bool]]:
    """Each payload path the params read, with whether a null there is sent as null (as :func:`render` does: in
    a list's place, or kept by its spec in an object)."""
    if isinstance(template, ListTemplate):
        return [read for item in template.items for read in null_reads(item)]
    if isinstance(template, ObjectTemplate):
        return [read for item in template.fields.values() for read in null_reads(item, in_object=True)]
    if isinstance(template, Constant):
        return []
    return [(template.path, not in_object or template.keep_null)]


def render(template: Template, payload: Mapping[str, Any], refs: Mapping[str, Any] | None = None) -> Any:
    """The params: lists keep every position (a null payload value is sent as null), an object leaves out a
    field whose value is null (as a body does, so a write never clears a field by accident) unless its spec
    says ``keep_null``. ``refs`` holds the adapter's own references (``$id``, ``$user``, ``$password``),
    read when the payload has nothing of that name."""
    value = _render(template, payload, refs or {}, in_object=False)
    return None if value is _OMIT else value
