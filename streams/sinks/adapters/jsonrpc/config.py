"""The ``jsonrpc:`` section and routes of a JSON-RPC target file, as typed values, and their checks.

A JSON-RPC route calls one ``method`` with ``params`` built from the payload by a template: a YAML structure
of lists and mappings whose leaves are field specs (:data:`~streams.sinks.config.model.FieldSpec`: a text is
a payload path, ``{value: ...}`` a constant, ``{from: ..., keep_null: true}``, ``{from: ..., each: ...}``).
Names beginning with ``$`` are the adapter's own references: ``$id`` (the record an external-id search found,
or the create made), ``$record`` (in a ``then:`` call: the ``$id`` of the route's own call), ``$user`` and
``$password`` (the login's credentials, only in the login's params).

A route is one call, or more: ``then:`` lists further calls made in order once the first succeeded (Tryton
refuses to rename an archived party even in the write that re-activates it, so that takes two writes; a
party's e-mail is a row of its own, written by id). A call with ``writes:`` is made only for a command that
carries one of those payload fields (see :func:`~streams.sinks.adapters.jsonrpc.steps.due`).

The plugin's section parser (:func:`parse_section`) and route parser (:func:`parse_route`) check them through
the loader's :class:`~streams.sinks.config.loader.TargetReader` (its ``problem``/``mapping``/``string``...
helpers), so a problem is reported with the file, line, key and fix like every other in a target file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from streams.sinks.config.model import (
    GONE_OPERATIONS,
    AnswerRules,
    Condition,
    Constant,
    Credential,
    EachItem,
    FieldSpec,
    FromField,
    IdPaths,
    LookupSpec,
)

if TYPE_CHECKING:
    from streams.sinks.config.loader import Key, RouteHead, TargetReader
    from streams.sinks.config.payload_paths import PayloadShape

JsonRpcVersion = Literal["1.0", "2.0"]
VERSIONS: tuple[JsonRpcVersion, ...] = ("1.0", "2.0")
RECORD_ID = "$id"
RECORD = "$record"
LOGIN_USER = "$user"
LOGIN_PASSWORD = "$password"

SECTION_KEYS = ("url", "version", "login", "batch", "transient_errors", "headers")
LOGIN_KEYS = ("method", "params", "user", "password", "header", "scheme", "token", "encode", "expired_statuses")
BATCH_KEYS = ("max_items", "linger_ms")
#: A route's own keys, besides those of every route (payload_type, operation, ids, answers).
ROUTE_KEYS = ("method", "params", "external_id", "writes", "then")
CALL_KEYS = ("method", "params")
STEP_KEYS = ("method", "params", "external_id", "writes")
EXTERNAL_ID_KEYS = ("field", "search", "found", "update", "created_id", "duplicate_error")
_METHOD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_TOKEN_PART = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, kw_only=True)
class ListTemplate:
    """A JSON array; every item rendered in place (a null payload value stays a null, keeping positions)."""

    items: tuple[Template, ...]


@dataclass(frozen=True, kw_only=True)
class ObjectTemplate:
    """A JSON object; a field whose payload value is null is left out unless its spec keeps nulls."""

    fields: Mapping[str, Template]


Template = FieldSpec | ListTemplate | ObjectTemplate


@dataclass(frozen=True, kw_only=True)
class CallSpec:
    method: str
    params: Template


@dataclass(frozen=True, kw_only=True)
class LoginSpec:
    """Session login: call ``method`` with ``params`` (``$user``, ``$password``), then send
    ``<header>: <scheme> <token>`` on every call, the token rendered from ``{$user}`` and ``{result.N}``
    placeholders of the login's answer and base64-encoded when ``encode`` says so. A call answered with one of
    ``expired_statuses`` logs in again once and is sent again."""

    method: str
    params: Template
    user: Credential
    password: Credential
    header: str = "Authorization"
    scheme: str | None = None
    token: str = "{result}"
    encode: Literal["none", "base64"] = "none"
    expired_statuses: tuple[int, ...] = (401, 403)


@dataclass(frozen=True, kw_only=True)
class RpcBatchSpec:
    """JSON-RPC 2.0 batch arrays: up to ``max_items`` calls gathered for ``linger_ms`` go out as one array."""

    max_items: int = 50
    linger_ms: int = 5


@dataclass(frozen=True, kw_only=True)
class JsonRpcOptions:
    url: str | None = None
    version: JsonRpcVersion = "2.0"
    login: LoginSpec | None = None
    batch: RpcBatchSpec | None = None
    #: Error names (Tryton's first element, a 2.0 error's code or message) worth retrying, e.g.
    #: ``ConcurrencyException``; every other error under HTTP 200 is permanent.
    transient_errors: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ExternalIdSpec:
    """Create as "search by external id, then create or update": ``field`` is the payload path of the id the
    target keeps (a party code); ``search`` finds the records holding it, ``found`` is the path of their id
    list (or single id) in ``{"result": ...}``; ``update`` (with ``$id``) writes into the one found, none
    leaves it as it is. ``created_id`` is where the create's answer holds the new id. A create failing with an
    error matching ``duplicate_error`` (the target's unique-violation message) lost a race with another
    writer: search again and update."""

    field: str
    search: CallSpec
    found: str = "result"
    update: CallSpec | None = None
    created_id: str | None = None
    duplicate_error: re.Pattern[str] | None = None


def _call_plan(method: str, external_id: ExternalIdSpec | None, *, gone: bool = False) -> str:
    """``gone``: the route ends a record (deactivate, cancel), so one its search does not find is taken as gone,
    never made."""
    if external_id is None:
        return f"call {method}"
    update = f", else {external_id.update.method}" if external_id.update else ""
    missing = "gone" if gone else method
    return f"{external_id.search.method} by {external_id.field}, {missing} if none{update}"


def _when(writes: tuple[str, ...]) -> str:
    return f" (when {' or '.join(writes)} is sent)" if writes else ""


@dataclass(frozen=True, kw_only=True)
class Step:
    """A further call of a route (``then:``), made after the calls before it succeeded: its params may read
    ``$record`` (the record the route's own call found or made); with ``external_id``, it is itself "search,
    then create or update" (its ``update`` reads ``$id``, the record its search found)."""

    method: str
    params: Template
    external_id: ExternalIdSpec | None = None
    #: Payload fields the call writes: made only when the command carries one of them (see ``steps.due``).
    writes: tuple[str, ...] = ()
    line: int | None = None

    def plan(self) -> str:
        return _call_plan(self.method, self.external_id) + _when(self.writes)


@dataclass(frozen=True, kw_only=True)
class JsonRpcRoute:
    """One remote call per command, and the ``then`` calls after it. Its answer, as ``ids`` and ``answers``
    read it, is ``{"method": ..., "result": <the first call's result>, "$id": <the record an external id found
    or the create made>, "upsert": <what the upsert did>, "then": [<each further call's result, null when it
    was not due>]}``; a JSON-RPC error reply never gets there (the adapter reads it, see ``envelope``)."""

    payload_type: str
    operation: str
    method: str
    params: Template
    #: Id name -> dotted path into the answer above (``result.0``, ``$id``).
    ids: IdPaths = field(default_factory=dict)
    #: Rules over the answer above (a result that means failure); never over the error reply.
    answers: AnswerRules | None = None
    external_id: ExternalIdSpec | None = None
    #: Payload fields the first call writes: made only when the command carries one of them.
    writes: tuple[str, ...] = ()
    then: tuple[Step, ...] = ()
    line: int | None = None

    def plan(self) -> str:
        first = _call_plan(self.method, self.external_id, gone=self.operation in GONE_OPERATIONS) + _when(self.writes)
        return "; then ".join((first, *(step.plan() for step in self.then)))


def _specials(*names: str) -> dict[str, LookupSpec]:
    """The adapter's own references, shaped as lookups so the checker accepts them where a payload field is
    expected."""
    return {name: LookupSpec(name=name, path="", take="") for name in names}


def template_references(template: Template) -> list[str]:
    """Every reference a template reads (for checks and for deciding what a call needs)."""
    if isinstance(template, ListTemplate):
        return [name for item in template.items for name in template_references(item)]
    if isinstance(template, ObjectTemplate):
        return [name for item in template.fields.values() for name in template_references(item)]
    if isinstance(template, (FromField, EachItem)):
        return [template.path]
    return []


def _is_spec(raw: Mapping[str, Any]) -> bool:
    return bool(raw) and set(raw) <= {"from", "value", "each", "keep_null"} and ("from" in raw or "value" in raw)


def check_template(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None,
                   specials: tuple[str, ...]) -> Template | None:
    """A params template: lists and mappings nest; a mapping of only from/value/each/keep_null is a field spec
    (so a literal object with a field named ``value`` is written as ``{value: {value: ...}}``); other scalars
    than text are constants. Without a payload shape (the login), a text must be one of ``specials``."""
    if isinstance(raw, list):
        items = [check_template(reader, item, (*key, index), shape, specials) for index, item in enumerate(raw)]
        return ListTemplate(items=tuple(i for i in items if i is not None))
    if isinstance(raw, dict) and not _is_spec(raw):
        fields: dict[str, Template] = {}
        for name, value in raw.items():
            checked = check_template(reader, value, (*key, str(name)), shape, specials)
            if checked is not None:
                fields[str(name)] = checked
        return ObjectTemplate(fields=fields)
    if raw is None or isinstance(raw, (bool, int, float)):
        return Constant(value=raw)
    if shape is None and isinstance(raw, str):
        if raw not in specials:
            reader.problem(key, f"{raw!r} is not a value the login can send",
                            f"use {' or '.join(specials)}, or {{value: {raw}}} for a constant")
            return None
        return FromField(path=raw)
    if isinstance(raw, str) and raw.startswith("$") and raw not in specials:
        reader.problem(key, f"{raw} is not a reference here",
                        f"use a payload field{', or ' + ', '.join(specials) if specials else ''}; "
                        f"write {{value: {raw!r}}} for a constant text")
        return None
    return reader.spec(raw, key, shape, None if shape is None else shape.schema, _specials(*specials), flat=False)


def _call(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None,
          specials: tuple[str, ...]) -> CallSpec | None:
    call = reader.mapping(raw, key, CALL_KEYS, "a call")
    if call is None:
        return None
    method = reader.string(call, "method", key, required=True, pattern=_METHOD,
                            fix="name the remote method, e.g. model.party.party.search")
    params = check_template(reader, call.get("params", []), (*key, "params"), shape, specials)
    if method is None or params is None:
        return None
    return CallSpec(method=method, params=params)


def _login(reader: TargetReader, raw: Any) -> LoginSpec | None:
    key: Key = ("jsonrpc", "login")
    login = reader.mapping(raw, key, LOGIN_KEYS, "login")
    if login is None:
        return None
    method = reader.string(login, "method", key, required=True, pattern=_METHOD,
                            fix="name the login method, e.g. common.db.login")
    params = check_template(reader, login.get("params", []), (*key, "params"), None, (LOGIN_USER, LOGIN_PASSWORD))
    user = reader.credential(login.get("user"), (*key, "user"), secret_only=False) if "user" in login else None
    if "user" not in login:
        reader.problem(key, "login names no user", "add user: <name>, or user: {env: VAR, secret: key}")
    password = (reader.credential(login.get("password"), (*key, "password"), secret_only=True)
                if "password" in login else None)
    if "password" not in login:
        reader.problem(key, "login names no password source", "add password: {env: VAR, secret: key}")
    header = reader.string(login, "header", key) or "Authorization"
    scheme = reader.string(login, "scheme", key)
    token = reader.string(login, "token", key) or "{result}"
    for part in _TOKEN_PART.findall(token):
        if part != LOGIN_USER and part != "result" and not part.startswith("result."):
            reader.problem((*key, "token"), f"{{{part}}} is not a part of the login's answer",
                            "use {$user}, {result} or {result.0}, {result.1}, ...")
    encode = login.get("encode", "none")
    if encode not in ("none", "base64"):
        reader.problem((*key, "encode"), f"{encode!r} is not an encoding", "use none or base64")
        encode = "none"
    statuses = login.get("expired_statuses", [401, 403])
    if not isinstance(statuses, list) or not all(isinstance(s, int) and 400 <= s < 500 for s in statuses):
        reader.problem((*key, "expired_statuses"), f"{statuses!r} is not a list of 4xx statuses",
                        "write expired_statuses: [401, 403]")
        statuses = [401, 403]
    if method is None or params is None or user is None or password is None:
        return None
    return LoginSpec(method=method, params=params, user=user, password=password, header=header, scheme=scheme,
                     token=token, encode=encode, expired_statuses=tuple(statuses))


def parse_section(raw: Any, reader: TargetReader) -> JsonRpcOptions | None:
    """The ``jsonrpc:`` section (the plugin's section parser: its value becomes ``TargetConfig.options``)."""
    key: Key = ("jsonrpc",)
    options = reader.mapping({} if raw is None else raw, key, SECTION_KEYS, "jsonrpc")
    if options is None:
        return None
    url = reader.string(options, "url", key)
    if url is not None and not url.startswith(("http://", "https://")):
        reader.problem((*key, "url"), f"{url!r} is not an http(s) URL",
                        "give the endpoint, e.g. http://127.0.0.1:8000/tryton/rpc/, or set ISTHMUS_SINK_BASE_URL")
    version = str(options.get("version", "2.0"))
    if version not in VERSIONS:
        reader.problem((*key, "version"), f"{version!r} is not a JSON-RPC version",
                        "use \"1.0\" (requests of id, method and params only, as Tryton wants) or \"2.0\"")
        version = "2.0"
    login = _login(reader, options["login"]) if options.get("login") is not None else None
    batch = None
    if options.get("batch") not in (None, False):
        spec = reader.mapping({} if options["batch"] is True else options["batch"], (*key, "batch"), BATCH_KEYS,
                               "batch")
        if spec is not None:
            batch = RpcBatchSpec(max_items=reader.integer(spec, "max_items", (*key, "batch"), 50, 1),
                                 linger_ms=reader.integer(spec, "linger_ms", (*key, "batch"), 5, 0))
        if version != "2.0":
            reader.problem((*key, "batch"), "JSON-RPC 1.0 has no batch arrays",
                            "remove batch (Tryton has none), or use version \"2.0\" if the API takes arrays")
            batch = None
    transient = reader.names(options, "transient_errors", key, re.compile(r"^\S+$"))
    headers = options.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in headers.items()):
        reader.problem((*key, "headers"), "headers must map a header name to a text", "write headers: {X-A: b}")
        headers = {}
    return JsonRpcOptions(url=url, version=version, login=login, batch=batch,  # type: ignore[arg-type]
                          transient_errors=transient, headers=headers)


def _external_id(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None,
                 outer: tuple[str, ...] = ()) -> ExternalIdSpec | None:
    """``outer``: the references the enclosing call may read besides the payload (``$record`` in a step)."""
    spec = reader.mapping(raw, key, EXTERNAL_ID_KEYS, "external_id")
    if spec is None:
        return None
    name = reader.string(spec, "field", key, required=True,
                          fix="name the payload field the target keeps as the record's external id, e.g. "
                              "account_code")
    if name is not None and shape is not None:
        reader.reference(name, (*key, "field"), shape, None, {}, scalar=True)
    search = (_call(reader, spec["search"], (*key, "search"), shape, outer) if "search" in spec else None)
    if "search" not in spec:
        reader.problem(key, "external_id has no search",
                        "add search: {method: model.party.party.search, params: [[[{value: code}, {value: '='}, "
                        "account_code]]]}")
    found = reader.string(spec, "found", key) or "result"
    update = (_call(reader, spec["update"], (*key, "update"), shape, (RECORD_ID, *outer))
              if spec.get("update") is not None else None)
    created_id = reader.string(spec, "created_id", key)
    duplicate = reader.string(spec, "duplicate_error", key)
    pattern = None
    if duplicate is not None:
        try:
            pattern = re.compile(duplicate)
        except re.error as exc:
            reader.problem((*key, "duplicate_error"), f"not a regular expression: {exc}",
                            "give a regular expression found in the target's unique-violation error")
    if name is None or search is None:
        return None
    return ExternalIdSpec(field=name, search=search, found=found, update=update, created_id=created_id,
                          duplicate_error=pattern)


def _reads_the_error_reply(rules: AnswerRules) -> bool:
    conditions: tuple[Condition, ...] = () if rules.error is None else (*rules.error.when, *rules.error.transient)
    paths = [c.path for c in conditions]
    if rules.error is not None and rules.error.message is not None:
        paths.append(rules.error.message)
    return any(path == "error" or path.startswith("error.") for path in paths)


def _writes(reader: TargetReader, owner: Mapping[str, Any], key: Key, shape: PayloadShape | None) -> tuple[str, ...]:
    names = reader.names(owner, "writes", key, re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$"))
    if shape is not None:
        for index, name in enumerate(names):
            reader.reference(name, (*key, "writes", index), shape, None, {}, scalar=False)
    if "writes" in owner and not names:
        reader.problem((*key, "writes"), "writes names no field",
                       "name the payload fields the call writes, e.g. writes: [email], or remove writes")
    return names


def _steps(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None,
           record: bool) -> tuple[Step, ...] | None:
    """The route's ``then:`` calls. ``record``: whether ``$record`` has a value (the route's first call is an
    external-id upsert that always runs)."""
    if not isinstance(raw, list) or not raw:
        reader.problem(key, f"then must be a list of calls, got {raw!r}",
                       "write then: [{method: model.party.party.write, params: [[$record], {name: name}, {}]}]")
        return None
    specials = (RECORD,) if record else ()
    steps: list[Step] = []
    ok = True
    for index, item in enumerate(raw):
        where = (*key, index)
        step = reader.mapping(item, where, STEP_KEYS, "a call")
        if step is None:
            ok = False
            continue
        method = reader.string(step, "method", where, required=True, pattern=_METHOD,
                               fix="name the remote method, e.g. model.party.contact_mechanism.write")
        if "params" not in step:
            reader.problem(where, "params is missing", "give the call's params, e.g. [[$record], {name: name}, {}]")
        params = _step_params(reader, step.get("params", []), (*where, "params"), shape, specials, record)
        external = (_external_id(reader, step["external_id"], (*where, "external_id"), shape, specials)
                    if step.get("external_id") is not None else None)
        writes = _writes(reader, step, where, shape)
        if method is None or params is None or "params" not in step:
            ok = False
            continue
        steps.append(Step(method=method, params=params, external_id=external, writes=writes,
                          line=reader.line(where)))
    return tuple(steps) if ok else None


def _step_params(reader: TargetReader, raw: Any, key: Key, shape: PayloadShape | None, specials: tuple[str, ...],
                 record: bool) -> Template | None:
    if not record and RECORD in _texts(raw):
        reader.problem(key, f"{RECORD} has no value here: it is the record the route's own call found or made, "
                       "and this route's call has no external_id (or is skipped by writes)",
                       "use a payload field (e.g. account_id), or give the route's call an external_id and no writes")
        return None
    return check_template(reader, raw, key, shape, specials)


def _texts(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [text for item in raw for text in _texts(item)]
    if isinstance(raw, dict):
        return [text for item in raw.values() for text in _texts(item)]
    return [raw] if isinstance(raw, str) else []


def parse_route(route: dict[str, Any], key: Key, head: RouteHead, reader: TargetReader) -> JsonRpcRoute | None:
    """One route of a JSON-RPC target (the plugin's route parser; its keys are already checked against
    :data:`ROUTE_KEYS` and ``head`` holds what every route has)."""
    payload_type, operation, shape = head.payload_type, head.operation, head.shape
    method = reader.string(route, "method", key, required=True, pattern=_METHOD,
                           fix="name the remote method, e.g. model.party.party.create")
    external = (_external_id(reader, route["external_id"], (*key, "external_id"), shape)
                if route.get("external_id") is not None else None)
    if "params" not in route:
        reader.problem(key, "params is missing", "give the call's params, e.g. [[{name: name}], {}]")
    params = check_template(reader, route.get("params", []), (*key, "params"), shape, ())
    if head.answers is not None and _reads_the_error_reply(head.answers):
        # The error member is the protocol's: the adapter reads it (message, transient_errors); a rule over it
        # as well would judge one reply twice.
        reader.problem((*key, "answers", "error"), "a JSON-RPC error reply is read by the adapter itself "
                       "(dead-lettered with its message, retried when jsonrpc.transient_errors names it), not by "
                       "answers rules", "remove the conditions on error; name retryable errors in "
                       "jsonrpc.transient_errors; answers rules of a jsonrpc route read its result (result, "
                       "result.0.state, $id)")
    writes = _writes(reader, route, key, shape)
    then: tuple[Step, ...] | None = ()
    if route.get("then") is not None:
        then = _steps(reader, route["then"], (*key, "then"), shape, record=external is not None and not writes)
    if (payload_type is None or operation is None or method is None or params is None or "params" not in route
            or then is None):
        return None
    return JsonRpcRoute(payload_type=payload_type, operation=operation, method=method, params=params,
                        ids=head.ids, answers=head.answers, external_id=external, writes=writes, then=then,
                        line=reader.line(key))
