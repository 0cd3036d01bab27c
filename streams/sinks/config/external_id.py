"""The ``external_id:`` of an HTTP route, checked through the loader's :class:`TargetReader` like the rest of
the file (every problem with its line, key and fix). What it means: ``streams.sinks.adapters.upsert``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from streams.sinks.config.model import (
    HTTP_METHODS,
    MAX_SEARCH_LAG_S,
    MAX_SEARCH_PAGES,
    PLACEHOLDER,
    DuplicateRule,
    FieldSpec,
    FromField,
    HttpCall,
    HttpExternalId,
    HttpSearch,
    LookupSpec,
)

if TYPE_CHECKING:
    from streams.sinks.config.loader import Key, TargetReader
    from streams.sinks.config.payload_paths import PayloadShape

#: The record the search found, in an update's path and body.
RECORD_ID = "$id"
EXTERNAL_ID_KEYS = ("field", "search", "update", "created_id", "duplicate")
SEARCH_KEYS = ("method", "path", "body", "found_id", "not_found", "match", "next", "next_param", "max_pages",
               "lag_s")
UPDATE_KEYS = ("method", "path", "body")
DUPLICATE_KEYS = ("status", "when")
#: A dotted path into an answer; ``*`` stands for every item of a list.
_FOUND = re.compile(r"^[A-Za-z0-9_-]+(\.([A-Za-z0-9_-]+|\*))*$")
_DOTTED = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_PARAM = re.compile(r"^[A-Za-z0-9_.\[\]-]+$")
#: ``$id`` shaped as a lookup, so the reader accepts it where a payload field is expected.
_RECORD = {RECORD_ID: LookupSpec(name=RECORD_ID, path="", take="")}
EXAMPLE = ("external_id: {field: crm_customer_number, search: {path: \"/accounts?crm_customer_number="
           "{crm_customer_number}\", found_id: items.*.account_id}, update: {method: PATCH, path: \"/accounts/{$id}\", "
           "body: {name: name}}, created_id: account_id, duplicate: {status: 409}}")


def _statuses(reader: TargetReader, raw: Any, key: Key, low: int, high: int) -> tuple[int, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) and low <= s <= high for s in items):
        reader.problem(key, f"{raw!r} is not a status or list of statuses from {low} to {high}",
                       f"write e.g. {'409' if low < 400 else '404'} or a list of them")
        return None
    return tuple(items)


def _call(reader: TargetReader, raw: Any, key: Key, allowed: tuple[str, ...], shape: PayloadShape | None,
          what: str, *, default_method: str | None) -> tuple[dict[str, Any], str, str,
                                                              dict[str, FieldSpec] | None] | None:
    spec = reader.mapping(raw, key, allowed, what)
    if spec is None:
        return None
    methods = ", ".join(HTTP_METHODS)
    method = reader.string(spec, "method", key, required=default_method is None, fix=f"use one of {methods}")
    method = (method or default_method or "").upper()
    if method and method not in HTTP_METHODS:
        reader.problem((*key, "method"), f"{method!r} is not an HTTP method", f"use one of {methods}")
        method = ""
    path = reader.string(spec, "path", key, required=True, fix=f"give the path of the {what}, below the base URL")
    if path is not None and not path.startswith("/"):
        reader.problem((*key, "path"), f"{path!r} does not start with /", "give a path below the base URL")
    specials = _RECORD if what == "update" else {}
    if path is not None and shape is not None:
        reader.template(path, (*key, "path"), shape, specials)
    body = None
    if spec.get("body") is not None:
        if method == "GET":
            reader.problem((*key, "body"), "a GET sends no body", "remove body, or set method: POST")
        body = reader.specs(spec["body"], (*key, "body"), shape, None if shape is None else shape.schema, specials)
    if not method or path is None:
        return None
    return spec, method, path, body


def _lag(reader: TargetReader, search: dict[str, Any], where: Key) -> float:
    """The search's ``lag_s``: seconds, from 0 (the default: the search shows a record as soon as it is made)."""
    lag = search.get("lag_s", 0)
    if isinstance(lag, bool) or not isinstance(lag, int | float) or not 0 <= lag <= MAX_SEARCH_LAG_S:
        reader.problem((*where, "lag_s"), f"lag_s must be a number of seconds from 0 to {MAX_SEARCH_LAG_S:g}, got "
                       f"{lag!r}", "give how long the target's search may take to show a record it has just made "
                       "(e.g. lag_s: 5), or leave it out when it shows it at once")
        return 0.0
    return float(lag)


def http_external_id(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None) -> HttpExternalId | None:
    """An HTTP route's ``external_id`` (None after reporting its problems)."""
    spec = reader.mapping(raw, key, EXTERNAL_ID_KEYS, "external_id")
    if spec is None:
        return None
    name = reader.string(spec, "field", key, required=True,
                         fix="name the payload field the target keeps as the record's external id, e.g. "
                             "crm_customer_number")
    if name is not None and shape is not None:
        reader.reference(name, (*key, "field"), shape, None, {}, scalar=True)
    search = None
    if "search" not in spec:
        reader.problem(key, "external_id has no search", f"add the search by the external id: {EXAMPLE}")
    else:
        where: Key = (*key, "search")
        called = _call(reader, spec["search"], where, SEARCH_KEYS, shape, "search", default_method="GET")
        if called is not None:
            raw_search, method, path, body = called
            found = reader.string(raw_search, "found_id", where, required=True, pattern=_FOUND,
                                  fix="give the dotted path of the found ids in the search's answer, '*' for "
                                      "every item of a list: items.*.account_id")
            missing = (_statuses(reader, raw_search["not_found"], (*where, "not_found"), 400, 499)
                       if raw_search.get("not_found") is not None else ())
            match = reader.string(raw_search, "match", where, pattern=_DOTTED,
                                  fix="give the dotted path, in each found record, of the external id the target "
                                      "keeps: external_ref")
            paging = reader.string(raw_search, "next", where, pattern=_DOTTED,
                                   fix="give the dotted path of the next page's marker in the search's answer: next")
            param = reader.string(raw_search, "next_param", where, pattern=_PARAM,
                                  fix="name the query parameter that carries the next page's cursor: cursor")
            if param is not None and paging is None:
                reader.problem((*where, "next_param"), "next_param without next",
                               "give next: the path of the next page's cursor in the search's answer")
            pages = reader.integer(raw_search, "max_pages", where, MAX_SEARCH_PAGES, 1)
            lag = _lag(reader, raw_search, where)
            if found is not None and missing is not None:
                search = HttpSearch(method=method, path=path, body=body, found_id=found, not_found=missing,
                                    match=match, next=paging, next_param=param, max_pages=pages, lag_s=lag)
    update = None
    if spec.get("update") is not None:
        called = _call(reader, spec["update"], (*key, "update"), UPDATE_KEYS, shape, "update", default_method=None)
        if called is not None:
            update = HttpCall(method=called[1], path=called[2], body=called[3])
    created_id = reader.string(spec, "created_id", key, pattern=_DOTTED,
                               fix="give the dotted path of the new record's id in the create's answer: account_id")
    duplicate = (_duplicate(reader, spec["duplicate"], (*key, "duplicate"))
                 if spec.get("duplicate") is not None else None)
    if name is None or search is None:
        return None
    return HttpExternalId(field=name, search=search, update=update, created_id=created_id, duplicate=duplicate)


def searches_by_field(spec: HttpExternalId) -> bool:
    """Whether the search sends the external id itself (in its path or body): a search by another field (an
    e-mail) cannot find the record once that field changes, so the update of such a change creates a twin."""
    search = spec.search
    sent = [*PLACEHOLDER.findall(search.path)]
    sent += [item.path for item in (search.body or {}).values() if isinstance(item, FromField)]
    return spec.field in sent


def _duplicate(reader: TargetReader, raw: Any, key: Key) -> DuplicateRule | None:
    spec = reader.mapping(raw, key, DUPLICATE_KEYS, "duplicate")
    if spec is None:
        return None
    statuses = _statuses(reader, spec["status"], (*key, "status"), 200, 599) if "status" in spec else ()
    when = reader.conditions(spec.get("when"), (*key, "when"), required=False)
    if statuses is None:
        return None
    if not statuses and not when:
        reader.problem(key, "duplicate has no rule", "give the status of the target's unique violation "
                       "(status: 409) and/or when: <a condition on its answer>, e.g. {path: field, equals: "
                       "crm_customer_number}")
        return None
    return DuplicateRule(statuses=statuses, when=when)
