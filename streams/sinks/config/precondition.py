"""The ``precondition:`` of an HTTP route, checked through the loader's :class:`TargetReader` like the rest of
the file (every problem with its line, key and fix): where the record's version is read and where the write
carries it. What it means at run time: ``streams.sinks.adapters.versions``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from streams.sinks.config.model import (
    HEADER_NAME,
    PRECONDITION_RETRIES,
    RESERVED_HEADERS,
    STALE_STATUSES,
    HttpRoute,
    Precondition,
    PreconditionSource,
    VersionPlace,
)

if TYPE_CHECKING:
    from streams.sinks.config.loader import Key, TargetReader

PRECONDITION_KEYS = ("read", "from", "send", "stale", "retries")
PLACE_KEYS = ("header", "field")
SOURCES: tuple[PreconditionSource, ...] = ("path", "search")
#: Where a field of the read's answer is: a dotted path (``meta.version``).
_DOTTED = re.compile(r"^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$")
#: A field of the write's body: one top-level name, as the route's body fields are.
_FIELD = re.compile(r"^[A-Za-z_@][A-Za-z0-9_@-]*$")
EXAMPLE = "precondition: {read: {header: ETag}, send: {header: If-Match}}"
BODY_EXAMPLE = "precondition: {read: {field: version}, send: {field: version}}"


def http_precondition(reader: TargetReader, raw: Any, key: Key) -> Precondition | None:
    """A route's ``precondition`` by itself (None after reporting its problems); :func:`check_fits` checks it
    against the rest of its route."""
    spec = reader.mapping(raw, key, PRECONDITION_KEYS, "precondition")
    if spec is None:
        return None
    read = _place(reader, spec, "read", key, "where the record's version is in the answer of the read: "
                  "read: {header: ETag}, or read: {field: version} for a field of the record")
    send = _place(reader, spec, "send", key, "where the write carries the version: send: {header: If-Match}, or "
                  "send: {field: version} for a field of the request body")
    if send is not None and send.header is not None and send.header.lower() in RESERVED_HEADERS:
        reader.problem((*key, "send", "header"), f"{send.header} is set by the sink itself",
                       "send the version in the header the API names for it, e.g. If-Match")
        send = None
    if send is not None and send.field is not None and not _FIELD.match(send.field):
        reader.problem((*key, "send", "field"), f"{send.field!r} is not a field of the request body",
                       "name one top-level field of the body, e.g. version")
        send = None
    source, lookup = _source(reader, spec.get("from", "path"), (*key, "from"))
    stale = _stale(reader, spec.get("stale", [412]), (*key, "stale"))
    retries = reader.integer(spec, "retries", key, PRECONDITION_RETRIES, 0)
    if read is None or send is None or source is None or stale is None:
        return None
    return Precondition(read=read, send=send, source=source, lookup=lookup, stale=stale, retries=retries,
                        line=reader.line(key))


def _place(reader: TargetReader, owner: dict[str, Any], name: str, key: Key, fix: str) -> VersionPlace | None:
    where: Key = (*key, name)
    if owner.get(name) is None:
        reader.problem(where, f"{name} is missing", f"give {fix}")
        return None
    spec = reader.mapping(owner[name], where, PLACE_KEYS, name)
    if spec is None:
        return None
    given = [k for k in PLACE_KEYS if k in spec]
    if len(given) != 1:
        reader.problem(where, f"{name} names {' and '.join(given) if given else 'neither header nor field'}; it "
                       "takes one of them", f"give {fix}")
        return None
    if given == ["header"]:
        header = reader.string(spec, "header", where, required=True, pattern=HEADER_NAME,
                               fix="name the header, e.g. ETag or If-Match")
        return None if header is None else VersionPlace(header=header)
    field = reader.string(spec, "field", where, required=True, pattern=_DOTTED,
                          fix="give the field as a dotted path, e.g. version or meta.version")
    return None if field is None else VersionPlace(field=field)


def _source(reader: TargetReader, raw: Any, key: Key) -> tuple[PreconditionSource | None, str | None]:
    fix = ("write from: path (a GET of the path the write goes to; the default), from: search (the record the "
           "route's external_id search found) or from: {lookup: <name>} (the answer of the route's lookup)")
    if isinstance(raw, str):
        if raw in SOURCES:
            return raw, None
        reader.problem(key, f"{raw!r} is not where a version is read from", fix)
        return None, None
    spec = reader.mapping(raw, key, ("lookup",), "from")
    if spec is None:
        return None, None
    name = reader.string(spec, "lookup", key, required=True, fix=fix)
    return ("lookup", name) if name is not None else (None, None)


def _stale(reader: TargetReader, raw: Any, key: Key) -> tuple[int, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) and s in STALE_STATUSES for s in items):
        reader.problem(key, f"{raw!r} is not a status a stale version is answered with",
                       "write 412 (Precondition Failed, the default), 409, or [412, 409] when the API answers a "
                       "stale version with either")
        return None
    return tuple(dict.fromkeys(items))


def check_fits(reader: TargetReader, route: HttpRoute, key: Key) -> None:
    """Whether the route's precondition fits the rest of it: a write of a record that exists (an update, or an
    external id's update), a read the route can make, a version the write has a place for."""
    guard = route.precondition
    if guard is None:
        return
    where: Key = (*key, "precondition")
    spec = route.external_id
    name = f"{route.payload_type.rpartition('.')[2]} {route.operation}"
    if spec is None and (route.method == "GET" or route.operation == "create"):
        what = "a GET writes nothing" if route.method == "GET" else "a create makes the record"
        reader.problem(where, f"{what}, so there is no version of it to send (route {name})",
                       "remove precondition; it belongs on the routes that change a record (update, deactivate, "
                       "...), or on an external_id route, whose update it guards")
        return
    if spec is not None and spec.update is None:
        reader.problem(where, "the precondition guards the update of the record the external_id search found, and "
                       "external_id has no update", "add external_id.update, or remove precondition")
        return
    if route.batch is not None:
        reader.problem((*key, "batch"), "a batch call carries many commands under one set of headers, so it cannot "
                       "carry each record's version", "remove batch, or precondition")
    if route.parts is not None:
        reader.problem((*key, "parts"), "a route sent in parts makes several writes to the record, and its "
                       "precondition guards one", "remove parts, or precondition")
    if guard.source == "search" and spec is None:
        reader.problem((*where, "from"), "from: search reads the record the route's external_id search found, and "
                       "the route has no external_id", "write from: path, or from: {lookup: <name>}")
    if guard.source == "lookup":
        lookup = route.lookups.get(guard.lookup or "")
        if lookup is None:
            reader.problem((*where, "from", "lookup"), f"the route has no lookup {guard.lookup!r}",
                           f"name one of its lookups ({', '.join(route.lookups) or 'none'}), or write from: path")
        elif guard.read.header is not None and lookup.match:
            reader.problem((*where, "read", "header"), f"lookup {lookup.name} searches a list of records, so the "
                           "headers of its answer are the list's, not the record's version",
                           "read the version from a field of the item it matches: read: {field: version}; or write "
                           "from: path to read the record's own header")
    if guard.source == "search" and spec is not None and guard.read.header is not None:
        reader.problem((*where, "read", "header"), "the headers of a search's answer are the search's, not the "
                       "found record's version", "read it from a field of the found record: read: {field: version}, "
                       "or write from: path to GET the update's path and read its header")
    if guard.send.field is not None:
        body = spec.update.body if spec is not None and spec.update is not None else route.body
        if body is None and not (spec is None and route.whole_payload):
            reader.problem((*where, "send", "field"), f"the {'update' if spec else 'route'} sends no body to carry "
                           f"field {guard.send.field}", "give it a body, or send the version in a header: "
                           "send: {header: If-Match}")
        elif body is not None and guard.send.field in body:
            reader.problem((*where, "send", "field"), f"the body maps {guard.send.field} already, and the "
                           "precondition sets it to the version read", f"remove {guard.send.field} from the body")
