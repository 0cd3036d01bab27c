"""Load and check a target file. Every problem is collected and reported at once, each with the file, line,
key and the fix, before a worker starts (``TargetConfigError``)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import yaml

from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.codecs.exceptions import UnknownSchema
from streams.config_files.located_yaml import DuplicateKey, Located, dotted, located, parse
from streams.config_files.problem import Problem, shown
from streams.sinks.adapters.registry import AdapterPlugin, AdapterRegistry, default_registry
from streams.sinks.config.external_id import http_external_id, searches_by_field
from streams.sinks.config.gone import gone_rule
from streams.sinks.config.job import check_fits as job_fits
from streams.sinks.config.job import http_job
from streams.sinks.config.model import (
    CHILD_MODES,
    CONDITION_TESTS,
    GONE_OPERATIONS,
    HEADER_NAME,
    HTTP_METHODS,
    IDEMPOTENCY_HEADER,
    LOOKUP_WAIT_S,
    OAUTH2_CLIENT_AUTH,
    ON_CONFLICT,
    PLACEHOLDER,
    RESERVED_HEADERS,
    AnswerRules,
    AuthSpec,
    BatchSpec,
    Condition,
    Constant,
    Credential,
    EachItem,
    ErrorRule,
    FieldSpec,
    FromField,
    GoneRule,
    HttpOptions,
    HttpRoute,
    IdPaths,
    Limits,
    Lookup,
    LookupSpec,
    OAuth2Spec,
    OnConflict,
    PartsSpec,
    Route,
    SqlChildren,
    SqlLookup,
    SqlOptions,
    SqlRoute,
    TargetConfig,
    key_from_lookup,
)
from streams.sinks.config.payload_paths import PayloadShape
from streams.sinks.config.precondition import check_fits, http_precondition
from streams.sinks.exceptions import TargetConfigError, UnknownAdapter
from streams.sinks.topics import writable_systems
from streams.systems.model import Engine

log = logging.getLogger("isthmus.sink")

Key = tuple[str | int, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
#: How a table is named, said with each fix of a table name: a new user quoted a mixed-case PostgreSQL name.
_AS_WRITTEN = ("; write it without quotes: each name is quoted as written, case and all (Sales.Product is "
               "PostgreSQL's \"Sales\".\"Product\", MariaDB's `Sales`.`Product`)")
#: A dotted path into an answer; a leading ``$`` names a field an adapter adds to it (the JSON-RPC ``$id``).
_DOTTED = re.compile(r"^\$?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: A lookup's ``take``: a dotted path into the answer, ``*`` for each item of a list (with ``match``).
_TAKE = re.compile(r"^[A-Za-z0-9_-]+(\.([A-Za-z0-9_-]+|\*))*$")
#: A lookup that reads each item of its answer's list exactly, e.g. the ERP's orders by CRM order number.
LOOKUP_MATCH_EXAMPLE = "take: items.*.order_id, match: {crm_order_number: order_number}"
#: A SQL route's lookup, as the errors about it show it: a parent's generated id by the parent's business key.
SQL_LOOKUP_EXAMPLE = "{parent_id: {table: crm.company, match: {tenant_id: tenant_id, external_code: parent_code}, " \
                     "take: id}}"

L = TypeVar("L", bound=Lookup)

#: The top keys of every target file; besides them, a file may have the section of its adapter (its name).
TOP_KEYS = ("system", "adapter", "routes", "limits")
LIMITS_KEYS = ("lines_per_call", "requests_per_second")
PARTS_KEYS = ("field", "method", "path")
#: The keys of every route, whatever its adapter.
COMMON_ROUTE_KEYS = ("payload_type", "operation", "ids", "answers", "gone")
HTTP_KEYS = ("base_url", "auth", "headers", "idempotency_header")
AUTH_KEYS = ("header", "scheme", "env", "secret", "required", "oauth2")
OAUTH2_KEYS = ("token_url", "client_id", "client_secret", "scope", "audience", "client_auth", "refresh_before_s")
CREDENTIAL_KEYS = ("env", "secret")
SQL_KEYS = ("database", "conninfo_env", "keys_table")
HTTP_ROUTE_KEYS = ("payload_type", "operation", "method", "path", "body", "lookups", "ids", "on_conflict",
                   "refusals", "only_changed", "batch", "external_id", "parts", "precondition", "job")
SQL_ROUTE_KEYS = ("payload_type", "operation", "action", "table", "key", "columns", "lookups", "ids", "children",
                  "only_changed")
CHILDREN_KEYS = ("table", "from", "parent_key", "key", "columns", "mode")
#: A route's ``children``, as the errors about it show it.
CHILDREN_EXAMPLE = ("children: [{table: order_line, from: lines, parent_key: {order_id: id}, key: [order_id, "
                    "line_no], columns: {line_no: line_no, sku: sku, qty: qty}}]")
LOOKUP_KEYS = ("method", "path", "body", "take", "match", "wait_s")
SQL_LOOKUP_KEYS = ("table", "match", "take", "wait_s")
ANSWERS_KEYS = ("error", "success")
ERROR_RULE_KEYS = ("when", "message", "transient")
CONDITION_KEYS = ("path", *CONDITION_TESTS)
BATCH_KEYS = ("method", "path", "max_items", "linger_ms", "items_field", "results_field", "key_field")
SPEC_KEYS = ("from", "value", "each", "keep_null", "json")


def sql_target_engine(config: TargetConfig, engine: Engine | None) -> Engine:
    """The engine whose dialect a ``sql`` target writes: its system's (``engine``); a write-only system (``capture:
    none``) declares none, so its file is refused, by the sink and by ``isthmus mappings validate`` alike."""
    if engine is None:
        raise TargetConfigError(f"{config.path}: a sql target writes into its system's database, and "
                                f"{config.system} is written only (capture: none), so its engine is not known; fix: "
                                "use an http target, or declare the system's engine, connector and topics")
    return engine


def target_path(directory: Path, system: str) -> Path:
    return directory / f"{system}.yaml"


class RouteHead(NamedTuple):
    """What every route has, checked by the loader before the adapter's route parser reads the rest."""

    payload_type: str | None
    operation: str | None
    shape: PayloadShape | None
    ids: IdPaths
    answers: AnswerRules | None


def _operations(schemas: SchemaSet) -> tuple[str, ...]:
    command = schemas.definition("Command")
    for item in command["fields"]:
        if item["name"] == "operation":
            symbols: list[str] = item["type"]["symbols"]
            return tuple(symbols)
    raise TargetConfigError("the Command schema has no operation field; check schemas/command.avsc")


class TargetReader:
    """Checks a target file, collecting every problem with its line. An adapter plugin's section and route
    parsers receive it: ``problem(key, message, fix)`` reports one (``key`` a path into the file, e.g.
    ``("jsonrpc", "url")``, for its line), and the helpers (``mapping``, ``string``, ``boolean``, ``integer``,
    ``names``, ``specs``, ``lookups``, ``auth``, ``credential``) read values the way the shipped adapters do."""

    def __init__(self, path: Path, located: Located, schemas: SchemaSet, writable: tuple[str, ...],
                 adapters: AdapterRegistry) -> None:
        self.path = path
        self.located = located
        self.schemas = schemas
        self.writable = writable
        self.adapters = adapters
        self.problems: list[Problem] = []
        #: What loads but may not do what the file means; logged by :func:`load_target`, kept on the config.
        self.warnings: list[Problem] = []
        self.operations = _operations(schemas)
        #: The ``gone`` rules the routes declare, by (payload type, operation); see ``TargetConfig.gone``.
        self.gone: dict[tuple[str, str], GoneRule | None] = {}

    def problem(self, key: Key, message: str, fix: str) -> None:
        self.problems.append(Problem(file=self.path, line=self.located.line(key), field=dotted(key) or "(top)",
                                     message=message, fix=fix))

    def warning(self, key: Key, message: str, fix: str) -> None:
        self.warnings.append(Problem(file=self.path, line=self.located.line(key), field=dotted(key) or "(top)",
                                     message=message, fix=fix))

    def line(self, key: Key) -> int | None:
        return self.located.line(key)

    def mapping(self, value: Any, key: Key, allowed: Sequence[str], what: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(key, f"{what} must be a mapping, got {_kind(value)}",
                         f"write it as keys: {', '.join(allowed)}")
            return None
        for name in value:
            if name not in allowed:
                self.problem((*key, str(name)), f"{name!r} is not a key of {what}",
                             f"remove it, or use one of {', '.join(allowed)}")
        return cast(dict[str, Any], value)

    def string(self, owner: Mapping[str, Any], name: str, key: Key, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, fix: str = "") -> str | None:
        value = owner.get(name)
        if value is None:
            if required:
                self.problem((*key, name), f"{name} is missing", fix or f"add {name}")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem((*key, name), f"{name} must be a non-empty string, got {_kind(value)}",
                         fix or f"give {name} as text")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem((*key, name), f"{value!r} is not a valid {name}", fix or f"correct {name}")
            return None
        return value

    def boolean(self, owner: Mapping[str, Any], name: str, key: Key, default: bool) -> bool:
        value = owner.get(name, default)
        if not isinstance(value, bool):
            self.problem((*key, name), f"{name} must be true or false, got {value!r}",
                         f"write {name}: true or {name}: false")
            return default
        return value

    def integer(self, owner: Mapping[str, Any], name: str, key: Key, default: int, low: int) -> int:
        value = owner.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.problem((*key, name), f"{name} must be a whole number of at least {low}, got {value!r}",
                         f"set {name} to {default} or another whole number >= {low}")
            return default
        return value

    def names(self, owner: Mapping[str, Any], name: str, key: Key, pattern: re.Pattern[str]) -> tuple[str, ...]:
        value = owner.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and pattern.match(v) for v in value):
            self.problem((*key, name), f"{name} must be a list of names, got {value!r}",
                         f"write {name}: [a, b] with plain field or column names")
            return ()
        return tuple(value)

    # the file

    def check(self) -> TargetConfig | None:
        data = self.located.data
        registered = self.adapters.names()
        top = self.mapping(data, (), (*TOP_KEYS, *registered), "a target file")
        if top is None:
            return None
        writable = self.writable
        system = self.string(top, "system", (), required=True,
                             fix=f"set system to the target system: one of {', '.join(writable)}")
        if system is not None and system not in writable:
            self.problem(("system",), f"{system!r} is not a system", f"use one of {', '.join(writable)}, the "
                         "writable systems of systems/")
        adapter = self.string(top, "adapter", (), required=True,
                              fix=f"set adapter to one of {', '.join(registered)}")
        plugin = self.plugin(adapter) if adapter is not None else None
        options = None
        if adapter is not None and plugin is not None:
            if plugin.section is not None:
                options = plugin.section(top.get(adapter), self)
            elif adapter in top:
                self.problem((adapter,), f"the {adapter} adapter takes no section", f"remove {adapter}")
            for other in registered:
                if other != adapter and other in top:
                    self.problem((other,), f"a{'n' if adapter[0] in 'aeiouh' else ''} {adapter} target has no "
                                 f"{other} section", f"remove {other}, or set adapter: {other}")
        limits = self.limits(top["limits"]) if top.get("limits") is not None else Limits()
        routes = top.get("routes")
        checked: dict[tuple[str, str], Route] = {}
        if not isinstance(routes, list) or not routes:
            self.problem(("routes",), "routes must be a non-empty list",
                         "add one route per (payload_type, operation) the target applies")
        elif plugin is not None:
            for index, raw in enumerate(routes):
                route = self.route(raw, ("routes", index), plugin)
                if route is None:
                    continue
                pair = (route.payload_type, route.operation)
                if pair in checked:
                    self.problem(("routes", index), f"a second route for {pair[0]} {pair[1]} (the first is at "
                                 f"line {checked[pair].line})", "keep one route per payload type and operation")
                    continue
                checked[pair] = route
        if adapter == "sql" and limits.requests_per_second is not None:
            self.problem(("limits", "requests_per_second"), "a sql target makes no calls to an API, so no rate "
                         "applies to it", "remove limits.requests_per_second")
        parted = [r for r in checked.values() if isinstance(r, HttpRoute) and r.parts is not None]
        if parted and limits.lines_per_call is None:
            self.problem(("limits",) if "limits" in top else ("routes",),
                         f"the route at line {parted[0].line} declares parts, but the file has no "
                         "limits.lines_per_call", "add `limits: {lines_per_call: <the most lines one call takes>}`, "
                         "or remove the route's parts")
        if self.problems or system is None or adapter is None or plugin is None:
            return None
        return TargetConfig(path=self.path, system=system, adapter=adapter,
                            http=options if isinstance(options, HttpOptions) else None,
                            sql=options if isinstance(options, SqlOptions) else None, routes=checked,
                            options=options, limits=limits, warnings=tuple(self.warnings), gone=dict(self.gone))

    def limits(self, raw: Any) -> Limits:
        """``limits:``: what one call may carry (see :class:`~streams.sinks.config.model.Limits`)."""
        spec = self.mapping(raw, ("limits",), LIMITS_KEYS, "limits")
        if spec is None:
            return Limits()
        lines = None
        if "lines_per_call" in spec:
            lines = self.integer(spec, "lines_per_call", ("limits",), 200, 1)
        rate = spec.get("requests_per_second")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or not 0 < rate < math.inf):
            self.problem(("limits", "requests_per_second"), f"requests_per_second must be a number above 0, got "
                         f"{rate!r}", "set it to the calls a second the target's API allows, a little under its "
                         "published limit (18 for 20), or remove it to let the sink find the rate from the 429s")
            rate = None
        return Limits(lines_per_call=lines, requests_per_second=None if rate is None else float(rate),
                      line=self.located.line(("limits",)))

    def plugin(self, name: str) -> AdapterPlugin | None:
        try:
            return self.adapters.get(name)
        except UnknownAdapter as exc:
            message, _, fix = str(exc).partition("; fix: ")
            self.problem(("adapter",), message, fix)
            return None

    def http_options(self, raw: Any) -> HttpOptions | None:
        options = self.mapping(raw, ("http",), HTTP_KEYS, "http")
        if options is None:
            return None
        base_url = self.string(options, "base_url", ("http",))
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            self.problem(("http", "base_url"), f"{base_url!r} is not an http(s) URL",
                         "give e.g. http://127.0.0.1:18002, or leave base_url out to use the stack's API URL")
        auth = self.auth(options["auth"]) if options.get("auth") is not None else None
        idempotency_header = self.idempotency_header(options, auth)
        headers: dict[str, str] = {}
        raw_headers = options.get("headers", {})
        if not isinstance(raw_headers, dict):
            self.problem(("http", "headers"), "headers must be a mapping of name to value",
                         "write headers: {X-Client: isthmus}")
        else:
            for name, value in raw_headers.items():
                key: Key = ("http", "headers", str(name))
                if not isinstance(name, str) or not HEADER_NAME.match(name):
                    self.problem(key, f"{name!r} is not a header name", "use letters, digits and dashes")
                elif name.lower() in RESERVED_HEADERS or (auth and name.lower() == auth.header.lower()) or (
                        idempotency_header and name.lower() == idempotency_header.lower()):
                    self.problem(key, f"{name} is set by the sink itself", "remove it from headers")
                elif not isinstance(value, str):
                    self.problem(key, f"the value of {name} must be text", "quote it")
                else:
                    headers[name] = value
        return HttpOptions(base_url=base_url.rstrip("/") if base_url else None, auth=auth, headers=headers,
                           idempotency_header=idempotency_header)

    def idempotency_header(self, options: Mapping[str, Any], auth: AuthSpec | None) -> str | None:
        """``http.idempotency_header``: the header the command's idempotency key goes in (default
        ``Idempotency-Key``), or ``false``: none (a target that honours no key)."""
        value = options.get("idempotency_header", IDEMPOTENCY_HEADER)
        if value is False:
            return None
        key: Key = ("http", "idempotency_header")
        fix = (f"name the header the API reads the key from (default {IDEMPOTENCY_HEADER}; pretix: "
               "X-Idempotency-Key), or write idempotency_header: false for an API that honours none")
        if not isinstance(value, str) or not HEADER_NAME.match(value):
            self.problem(key, f"{value!r} is not a header name", fix)
        elif value.lower() != IDEMPOTENCY_HEADER.lower() and (
                value.lower() in RESERVED_HEADERS or (auth and value.lower() == auth.header.lower())):
            self.problem(key, f"{value} is set by the sink itself", fix)
        else:
            return value
        return IDEMPOTENCY_HEADER

    def auth(self, raw: Any, key: Key = ("http", "auth")) -> AuthSpec | None:
        """An auth header spec at ``key`` (a plugin passes its own, e.g. ``("soap", "auth")``)."""
        auth = self.mapping(raw, key, AUTH_KEYS, "auth")
        if auth is None:
            return None
        oauth2 = self.oauth2(auth["oauth2"], (*key, "oauth2")) if "oauth2" in auth else None
        header = self.string(auth, "header", key, required="oauth2" not in auth, pattern=HEADER_NAME,
                             fix="name the header, e.g. header: Authorization")
        scheme = self.string(auth, "scheme", key)
        env = self.string(auth, "env", key, pattern=_ENV, fix="name an environment variable in CAPITALS, e.g. "
                          "ISTHMUS_ERP_API_TOKEN")
        secret = self.string(auth, "secret", key, fix="name a key of the stack's secrets file, e.g. "
                             "erp.api.token")
        if "oauth2" in auth:
            for name in ("env", "secret", "required"):
                if name in auth:
                    self.problem((*key, name), f"auth with oauth2 takes no {name}: the header's value is the token "
                                 "the OAuth2 token endpoint issues", f"remove {name}; name the client's id and "
                                 "secret in oauth2.client_id and oauth2.client_secret")
        elif auth.get("env") is None and auth.get("secret") is None:
            self.problem(key, "auth names no source for its secret",
                         "add env: <VARIABLE> and/or secret: <key of the stack's secrets file>, or oauth2: "
                         "{token_url: ..., client_id: ..., client_secret: {env: VAR}}")
        for name in ("token", "value", "password"):
            if name in auth:
                self.problem((*key, name), "a secret value must never be written in a target file",
                             "remove it; put the value in an environment variable or the stack's secrets file")
        required = self.boolean(auth, "required", key, True)
        if oauth2 is not None:
            header, scheme = header or "Authorization", scheme or "Bearer"
        if header is None or ("oauth2" in auth and oauth2 is None):
            return None
        return AuthSpec(header=header, scheme=scheme, env=env, secret=secret, required=required, oauth2=oauth2,
                        line=self.located.line(key))

    def oauth2(self, raw: Any, key: Key) -> OAuth2Spec | None:
        """``auth.oauth2``: OAuth2 client credentials (see :class:`~streams.sinks.config.model.OAuth2Spec`)."""
        spec = self.mapping(raw, key, OAUTH2_KEYS, "oauth2")
        if spec is None:
            return None
        token_url = self.string(spec, "token_url", key, required=True,
                                fix="give the token endpoint's URL, e.g. https://login.example.com/oauth2/token")
        if token_url is not None and not token_url.startswith(("http://", "https://")):
            self.problem((*key, "token_url"), f"{token_url!r} is not an http(s) URL",
                         "give the token endpoint's whole URL, e.g. https://login.example.com/oauth2/token")
            token_url = None
        client_id = client_secret = None
        for name in ("client_id", "client_secret"):
            if name not in spec:
                self.problem(key, f"oauth2 names no {name}", f"add {name}: {{env: VAR, secret: <key of the "
                             "stack's secrets file>}")
        if "client_id" in spec:
            client_id = self.credential(spec["client_id"], (*key, "client_id"), secret_only=False)
        if "client_secret" in spec:
            client_secret = self.credential(spec["client_secret"], (*key, "client_secret"), secret_only=True,
                                            what="a client secret")
        scope = spec.get("scope")
        if isinstance(scope, list) and scope and all(isinstance(s, str) and s.strip() for s in scope):
            scope = " ".join(scope)
        elif scope is not None:
            scope = self.string(spec, "scope", key, fix="give the scopes as text (a b) or a list ([a, b])")
        audience = self.string(spec, "audience", key)
        client_auth = spec.get("client_auth", "body")
        if client_auth not in OAUTH2_CLIENT_AUTH:
            self.problem((*key, "client_auth"), f"{client_auth!r} is not a way to send the client's credentials",
                         "use body (client_id and client_secret in the form, the default) or basic (HTTP Basic)")
            client_auth = "body"
        before = spec.get("refresh_before_s", 30)
        if isinstance(before, bool) or not isinstance(before, int | float) or not 0 <= before < math.inf:
            self.problem((*key, "refresh_before_s"), f"refresh_before_s must be a number of seconds of at least 0, "
                         f"got {before!r}", "set it to how long before a token expires it is renewed, e.g. 30")
            before = 30
        if token_url is None or client_id is None or client_secret is None:
            return None
        return OAuth2Spec(token_url=token_url, oauth_client_id=client_id, client_secret=client_secret, scope=scope,
                          audience=audience, client_auth=client_auth, refresh_before_s=float(before))

    def credential(self, raw: Any, key: Key, *, secret_only: bool, what: str = "a password") -> Credential | None:
        """A value a login sends: ``{env: VAR, secret: key}``, or (not ``secret_only``, a name) the text itself;
        ``what`` names a secret written in the file, which is refused."""
        if isinstance(raw, str) and not secret_only:
            return Credential(constant=raw)
        if isinstance(raw, str):
            self.problem(key, f"{what} must never be written in a target file",
                         "give {env: <VARIABLE>, secret: <key of the stack's secrets file>}")
            return None
        spec = self.mapping(raw, key, CREDENTIAL_KEYS, "a credential")
        if spec is None:
            return None
        env = self.string(spec, "env", key, pattern=_ENV, fix="name an environment variable in CAPITALS")
        secret = self.string(spec, "secret", key, fix="name a key of the stack's secrets file, e.g. tryton.password")
        if env is None and secret is None:
            self.problem(key, "names no source for its value",
                         "add env: <VARIABLE> and/or secret: <key of the stack's secrets file>")
            return None
        return Credential(env=env, secret=secret)

    def sql_options(self, raw: Any) -> SqlOptions | None:
        if raw is None:
            raw = {}
        options = self.mapping(raw, ("sql",), SQL_KEYS, "sql")
        if options is None:
            return None
        database = self.string(options, "database", ("sql",), pattern=_IDENTIFIER)
        conninfo_env = self.string(options, "conninfo_env", ("sql",), pattern=_ENV,
                                   fix="name an environment variable in CAPITALS")
        keys_table = self.string(options, "keys_table", ("sql",), pattern=_TABLE,
                                 fix="give a table name, optionally schema-qualified: public.isthmus_sink_keys"
                                 + _AS_WRITTEN)
        return SqlOptions(database=database, conninfo_env=conninfo_env,
                          keys_table=keys_table)

    # routes

    def route_head(self, route: dict[str, Any], key: Key) -> RouteHead:
        payload = self.string(route, "payload_type", key, required=True,
                              fix="name the canonical record of the payload, e.g. Account")
        operation = self.string(route, "operation", key, required=True,
                                fix=f"set operation to one of {', '.join(self.operations)}")
        full = shape = None
        if payload is not None:
            try:
                full = self.schemas.resolve(payload, top_level=True)
                shape = PayloadShape.of(self.schemas.standalone(full))
            except UnknownSchema:
                self.problem((*key, "payload_type"), f"no schema named {payload!r}",
                             f"use one of {', '.join(n.rpartition('.')[2] for n in self.schemas.names())}")
        if operation is not None and operation not in self.operations:
            self.problem((*key, "operation"), f"{operation!r} is not a command operation",
                         f"use one of {', '.join(self.operations)}")
            operation = None
        ids = self.ids(route.get("ids"), (*key, "ids"))
        answers = self.answers(route["answers"], (*key, "answers")) if route.get("answers") is not None else None
        return RouteHead(full, operation, shape, ids, answers)

    def route(self, raw: Any, key: Key, plugin: AdapterPlugin) -> Route | None:
        allowed = tuple(dict.fromkeys((*COMMON_ROUTE_KEYS, *plugin.route_keys)))
        route = self.mapping(raw, key, allowed, "a route")
        if route is None:
            return None
        head = self.route_head(route, key)
        checked = plugin.route(route, key, head, self)
        if "gone" in route:  # read by the deliverer for every adapter, so no plugin has to carry it
            rule = gone_rule(self, route["gone"], (*key, "gone"), head.operation)
            if checked is not None:
                self.gone[(checked.payload_type, checked.operation)] = rule
        return checked

    def ids(self, raw: Any, key: Key) -> IdPaths:
        """``[name, ...]`` (each read at its own name) or ``{name: dotted path into the answer}``."""
        if raw is None:
            return {}
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list) and all(isinstance(v, str) and _IDENTIFIER.match(v) for v in raw):
            return {name: name for name in raw}
        if isinstance(raw, dict) and raw:
            found: dict[str, str] = {}
            for name, path in raw.items():
                if not isinstance(name, str) or not _IDENTIFIER.match(name):
                    self.problem((*key, str(name)), f"{name!r} is not an id name", "use letters, digits and _")
                elif not isinstance(path, str) or not _DOTTED.match(path):
                    self.problem((*key, name), f"{path!r} is not a path into the answer",
                                 "give a dotted path, digits for list items: result.0.id")
                else:
                    found[name] = path
            return found
        self.problem(key, f"ids must be a list of names or a mapping of name to answer path, got {raw!r}",
                     "write ids: [account_id, account_code] or ids: {account_id: result.0.id}")
        return {}

    def answers(self, raw: Any, key: Key) -> AnswerRules | None:
        spec = self.mapping(raw, key, ANSWERS_KEYS, "answers")
        if spec is None:
            return None
        reported = len(self.problems)
        error = None
        if spec.get("error") is not None:
            where: Key = (*key, "error")
            rule = self.mapping(spec["error"], where, ERROR_RULE_KEYS, "answers.error")
            if rule is not None:
                when = self.conditions(rule.get("when"), (*where, "when"), required=True)
                message = self.string(rule, "message", where, pattern=_DOTTED,
                                      fix="give the dotted path of the target's message, e.g. error.1")
                transient = self.conditions(rule.get("transient"), (*where, "transient"), required=False)
                if when:
                    error = ErrorRule(when=when, message=message, transient=transient)
        success = self.conditions(spec.get("success"), (*key, "success"), required=False)
        if error is None and not success:
            if len(self.problems) == reported:
                self.problem(key, "answers has no rule", "add error: {when: <path>, message: <path>} and/or "
                             "success: <path>, or remove answers")
            return None
        return AnswerRules(error=error, success=success, line=self.located.line(key))

    def conditions(self, raw: Any, key: Key, *, required: bool) -> tuple[Condition, ...]:
        """A condition, or a list of them (any one holding is enough): ``path`` (a non-null value is there) or
        ``{path: p, <test>: value}`` with one test of present, absent, equals, one_of, matches."""
        if raw is None:
            if required:
                self.problem(key, "no condition", "give the path that holds only in an error answer, e.g. "
                             "when: error")
            return ()
        items = raw if isinstance(raw, list) else [raw]
        found: list[Condition] = []
        for index, item in enumerate(items):
            where: Key = (*key, index) if isinstance(raw, list) else key
            condition = self.condition(item, where)
            if condition is not None:
                found.append(condition)
        return tuple(found)

    def condition(self, raw: Any, key: Key) -> Condition | None:
        fix = "write a dotted path (error), or {path: error.0, one_of: [UserError]} with one test of " + \
              ", ".join(CONDITION_TESTS)
        if isinstance(raw, str):
            if not _DOTTED.match(raw):
                self.problem(key, f"{raw!r} is not a path into the answer", fix)
                return None
            return Condition(path=raw)
        spec = self.mapping(raw, key, CONDITION_KEYS, "a condition")
        if spec is None:
            return None
        path = self.string(spec, "path", key, required=True, pattern=_DOTTED, fix=fix)
        tests = [t for t in CONDITION_TESTS if t in spec]
        if len(tests) > 1:
            self.problem(key, f"a condition has one test, got {', '.join(tests)}", "split it into a list of "
                         "conditions (any one holding is enough)")
            return None
        test = tests[0] if tests else "present"
        value = spec.get(test)
        if test in ("present", "absent"):
            if test in spec and spec[test] is not True:
                self.problem((*key, test), f"{test} takes true", f"write {test}: true")
                return None
            value = None
        elif test == "one_of" and (not isinstance(value, list) or not value):
            self.problem((*key, test), "one_of takes a non-empty list", "write one_of: [a, b]")
            return None
        elif test == "matches":
            try:
                re.compile(str(value))
            except re.error as exc:
                self.problem((*key, test), f"{value!r} is not a regular expression: {exc}", "correct it")
                return None
        if path is None:
            return None
        return Condition(path=path, test=test, value=tuple(cast(list[Any], value)) if test == "one_of" else value)

    def http_route(self, route: dict[str, Any], key: Key, head: RouteHead) -> HttpRoute | None:
        method = self.string(route, "method", key, required=True, fix=f"use one of {', '.join(HTTP_METHODS)}")
        if method is not None and method.upper() not in HTTP_METHODS:
            self.problem((*key, "method"), f"{method!r} is not an HTTP method",
                         f"use one of {', '.join(HTTP_METHODS)}")
            method = None
        path = self.string(route, "path", key, required=True, fix="give the path, e.g. /accounts/{account_id}")
        if path is not None and not path.startswith("/"):
            self.problem((*key, "path"), f"{path!r} does not start with /",
                         "give the path below the base URL, e.g. /accounts/{account_id}")
        payload_type, operation, shape = head.payload_type, head.operation, head.shape
        lookups = self.lookups(route.get("lookups"), (*key, "lookups"), shape)
        if path is not None and shape is not None:
            self.template(path, (*key, "path"), shape, lookups)
        body: dict[str, FieldSpec] | None = None
        whole = False
        raw_body = route.get("body")
        if raw_body == "payload":
            whole = True
        elif raw_body is not None:
            body = self.specs(raw_body, (*key, "body"), shape, None if shape is None else shape.schema, lookups,
                              whole=True)
        if method is not None and method.upper() == "GET" and (raw_body is not None):
            self.problem((*key, "body"), "a GET sends no body", "remove body, or use POST, PUT or PATCH")
        on_conflict = route.get("on_conflict", "retry_once")
        if on_conflict not in ON_CONFLICT:
            self.problem((*key, "on_conflict"), f"{on_conflict!r} is not a conflict policy",
                         f"use one of {', '.join(ON_CONFLICT)}")
            on_conflict = "retry_once"
        refusals = self.names(route, "refusals", key, _IDENTIFIER)
        only_changed = self.boolean(route, "only_changed", key, False)
        batch = self.batch(route["batch"], (*key, "batch")) if route.get("batch") is not None else None
        external = (http_external_id(self, route["external_id"], (*key, "external_id"), shape)
                    if route.get("external_id") is not None else None)
        if route.get("external_id") is not None and batch is not None:
            self.problem((*key, "batch"), "a route with external_id searches before each create, so it cannot "
                         "batch", "remove batch, or external_id if the target honours Idempotency-Key")
        parts = (self.parts(route["parts"], (*key, "parts"), body, head)
                 if route.get("parts") is not None else None)
        if external is not None and operation not in (None, "create") and not searches_by_field(external):
            search = external.search
            missed = ("takes it for gone, leaving it as it is (counted in isthmus_sink_gone_total)"
                      if operation in GONE_OPERATIONS else "creates a second one (warned and counted in "
                      "isthmus_sink_created_by_changes_total when it happens)")
            self.warning((*key, "external_id", "search", "path"), f"the search ({search.method} {search.path}) "
                         f"does not send the external id {external.field}, so a{'n' if operation[0] in 'aeiou' else ''}"
                         f" {operation} command that changes what it searches by cannot find the record and {missed}",
                         f"search by the external id where the API can (e.g. ?{external.field}="
                         f"{{{external.field}}}); else keep what the search sends unchanged")
        precondition = (http_precondition(self, route["precondition"], (*key, "precondition"))
                         if route.get("precondition") is not None else None)
        job = http_job(self, route["job"], (*key, "job")) if route.get("job") is not None else None
        if payload_type is None or operation is None or method is None or path is None:
            return None
        checked = HttpRoute(payload_type=payload_type, operation=operation, method=method.upper(), path=path,
                            body=body, whole_payload=whole, lookups=lookups, ids=head.ids, answers=head.answers,
                            on_conflict=cast(OnConflict, on_conflict), refusals=refusals, only_changed=only_changed,
                            batch=batch, external_id=external, parts=parts, precondition=precondition,
                            job=job, line=self.located.line(key))
        check_fits(self, checked, key)
        job_fits(self, checked, key)
        return checked

    def parts(self, raw: Any, key: Key, body: Mapping[str, FieldSpec] | None, head: RouteHead) -> PartsSpec | None:
        """A route's ``parts:``: how the target takes the lines of a document past its first call."""
        spec = self.mapping(raw, key, PARTS_KEYS, "parts")
        if spec is None:
            return None
        lists = [name for name, item in (body or {}).items() if isinstance(item, EachItem)]
        field = self.string(spec, "field", key, required=True, pattern=_IDENTIFIER,
                            fix="name the body field of the lines (one mapped with each:): "
                                f"{', '.join(lists) or 'none'}")
        if field is not None and field not in lists:
            self.problem((*key, "field"), f"{field!r} is no body field mapped with each:",
                         f"use one of {', '.join(lists)}" if lists else "map the lines in the body with "
                         "`{from: <array field>, each: {...}}` first")
            field = None
        method = self.string(spec, "method", key, required=True, fix="give the method that adds lines, e.g. POST")
        if method is not None and method.upper() not in ("POST", "PUT", "PATCH"):
            self.problem((*key, "method"), f"{method!r} cannot carry lines", "use POST, PUT or PATCH")
            method = None
        path = self.string(spec, "path", key, required=True,
                           fix="give the path that adds lines, e.g. /orders/{order_id}/lines")
        if path is not None and not path.startswith("/"):
            self.problem((*key, "path"), f"{path!r} does not start with /", "give a path below the base URL")
            path = None
        if path is not None and head.shape is not None:
            # placeholders: an id the first call's answer assigns, or a payload field
            assigned = cast(Mapping[str, Lookup], dict.fromkeys(head.ids))
            self.template(path, (*key, "path"), head.shape, assigned)
        if field is None or method is None or path is None:
            return None
        return PartsSpec(field=field, method=method.upper(), path=path)

    def lookups(self, raw: Any, key: Key, shape: PayloadShape | None) -> dict[str, LookupSpec]:
        """An HTTP route's ``lookups``: each a call whose answer fills a reference the payload leaves null."""
        return self.each_lookup(raw, key, LOOKUP_KEYS, "{account_id: {path: /accounts/by-customer/"
                                "{crm_customer_number}, take: account_id}}",
                                lambda name, body, where: self.http_lookup(name, body, where, shape))

    def each_lookup(self, raw: Any, key: Key, allowed: Sequence[str], example: str,
                    one: Callable[[str, dict[str, Any], Key], L | None]) -> dict[str, L]:
        """A route's ``lookups`` (reference name -> lookup), whatever its adapter: each entry a mapping of
        ``allowed`` keys, read by ``one``; ``example`` shows the fix."""
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not raw:
            self.problem(key, f"lookups must be a mapping of reference name to a lookup, got {_kind(raw)}",
                         f"write lookups: {example}")
            return {}
        found: dict[str, L] = {}
        for name, spec in raw.items():
            where: Key = (*key, str(name))
            body = self.mapping(spec, where, allowed, f"lookup {name}")
            checked = None if body is None else one(str(name), body, where)
            if checked is not None:
                found[str(name)] = checked
        return found

    def http_lookup(self, name: str, body: dict[str, Any], where: Key, shape: PayloadShape | None) -> LookupSpec | None:
        method = (self.string(body, "method", where, fix=f"use one of {', '.join(HTTP_METHODS)}") or "GET").upper()
        if method not in HTTP_METHODS:
            self.problem((*where, "method"), f"{method!r} is not an HTTP method",
                         f"use one of {', '.join(HTTP_METHODS)}")
        path = self.string(body, "path", where, required=True, fix="give the path that finds the value")
        take = self.string(body, "take", where, required=True, pattern=_TAKE,
                           fix="name the answer's field to take, a dotted path (* for each item of a list, "
                               f"with match): account_id, or {LOOKUP_MATCH_EXAMPLE}")
        match = self.lookup_match(body.get("match"), (*where, "match"), take, shape)
        if path is not None and not path.startswith("/"):
            self.problem((*where, "path"), f"{path!r} does not start with /", "give a path below the base URL")
        if path is not None and shape is not None:
            self.template(path, (*where, "path"), shape, {})
        request: dict[str, FieldSpec] | None = None
        if body.get("body") is not None:
            if method == "GET":
                self.problem((*where, "body"), "a GET sends no body", "remove body, or set method: POST")
            request = self.specs(body["body"], (*where, "body"), shape, None if shape is None else shape.schema, {})
        if path is None or take is None:
            return None
        wait = self.lookup_wait(body, where)
        return LookupSpec(name=name, path=path, take=take, method=method, body=request, match=match, wait_s=wait)

    def lookup_wait(self, body: dict[str, Any], where: Key) -> float:
        """A lookup's ``wait_s``: how long a command whose referenced record is not there yet is retried."""
        wait = body.get("wait_s", LOOKUP_WAIT_S)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait < math.inf:
            self.problem((*where, "wait_s"), f"wait_s must be a number of seconds of at least 0, got {wait!r}",
                         f"give how long a command waits for the referenced record to be written (default "
                         f"{LOOKUP_WAIT_S:g}); 0 dead-letters it at once")
            return LOOKUP_WAIT_S
        return float(wait)

    def sql_lookup(self, name: str, body: dict[str, Any], where: Key, shape: PayloadShape | None) -> SqlLookup | None:
        """A SQL route's lookup: ``take``, a column of the one row of ``table`` whose ``match`` columns hold the
        payload's values; ``wait_s``, how long a command whose row is not there yet is retried."""
        table = self.string(body, "table", where, required=True, pattern=_TABLE,
                            fix="give the table of the referenced rows, optionally schema-qualified: crm.company"
                            + _AS_WRITTEN)
        take = self.string(body, "take", where, required=True, pattern=_IDENTIFIER,
                           fix=f"name the column whose value fills {name}, e.g. take: id (the row's generated id)")
        match = self.match_fields(body.get("match"), (*where, "match"), shape, ("a column name", _IDENTIFIER,
                                  "use the column's name: letters, digits and underscores"), SQL_LOOKUP_EXAMPLE)
        wait = self.lookup_wait(body, where)
        if table is None or take is None:
            return None
        return SqlLookup(name=name, table=table, take=take, match=match, wait_s=wait, line=self.line(where))

    def match_fields(self, raw: Any, key: Key, shape: PayloadShape | None, field: tuple[str, re.Pattern[str], str],
                     example: str) -> dict[str, str]:
        """A lookup's ``match``, whatever its adapter: {the target's field: payload field}, each payload field a
        single value of the payload. ``field``: what the target's field is, its pattern and the fix for one that
        does not fit it."""
        what, pattern, fix = field
        if not isinstance(raw, dict) or not raw:
            self.problem(key, f"match must be a mapping of {what} to payload field, got {_kind(raw)}",
                         f"write e.g. {example}")
            return {}
        found: dict[str, str] = {}
        for target_field, payload_field in raw.items():
            where: Key = (*key, str(target_field))
            if not isinstance(target_field, str) or not pattern.match(target_field):
                self.problem(where, f"{target_field!r} is not {what}", fix)
            elif not isinstance(payload_field, str) or not payload_field.strip():
                self.problem(where, f"{payload_field!r} is not a payload field",
                             f"name the payload field {target_field} must equal: {target_field}: <payload field>")
            else:
                if shape is not None:
                    self.reference(payload_field, where, shape, None, {}, scalar=True)
                found[target_field] = payload_field
        return found

    def lookup_match(self, raw: Any, key: Key, take: str | None,
                     shape: PayloadShape | None) -> dict[str, str]:
        """A lookup's ``match`` ({answer item's field: payload field}), checked with its ``take``: a take that
        reads a list (``items.0.uid``, ``items.*.uid``) needs one, since a search can answer other records than
        the one meant (a filter matching by substring answered joann@ for ann@), and the first is then a guess.
        A problem is reported, and the lookup kept, so that the route's references to it are not refused too."""
        parts = [] if take is None else take.split(".")
        if raw is None:
            if take is not None and ("*" in parts or any(p.isdigit() for p in parts)):
                each = ".".join("*" if p.isdigit() else p for p in parts)
                self.problem((*key[:-1], "take"), f"take {take} reads an item of a list the answer holds, and "
                             "the lookup names no match, so the first record answered would be taken whatever "
                             "it is (a search matching loosely answers others too)",
                             f"read each item and name the item's fields that must equal the payload's: take: "
                             f"{each}, match: {{<item field>: <payload field>}} (e.g. {LOOKUP_MATCH_EXAMPLE})")
            return {}
        found = self.match_fields(raw, key, shape, ("a path into an answer item", _DOTTED, "give a dotted path, "
                                  "relative to each item: crm_order_number"), LOOKUP_MATCH_EXAMPLE)
        if take is not None and "*" not in parts:
            fixed = ".".join("*" if p.isdigit() else p for p in parts)
            self.problem((*key[:-1], "take"), f"take {take} does not read each item of a list, so match has "
                         "nothing to compare", f"write take: {fixed}" if fixed != take else
                         "write the list's items as *: take: items.*.uid")
        return found

    def reference(self, name: str, key: Key, shape: PayloadShape, node: Any,
                  lookups: Mapping[str, Lookup], *, scalar: bool) -> Any | None:
        found, why = shape.find(name, node)
        if found is None:
            if name in lookups:
                return "string"
            self.problem(key, why or f"no field {name!r}", "use a field of the payload schema" +
                         (f" or a lookup ({', '.join(lookups)})" if lookups else ""))
            return None
        if scalar and not shape.is_scalar(found):
            self.problem(key, f"{name} is a record or array, not a single value",
                         "name one of its fields with a dotted path, e.g. billing_address.city, or write it whole "
                         f"as JSON text into a JSON or text column: {{from: {name}, json: true}}")
        return found

    def template(self, path: str, key: Key, shape: PayloadShape, lookups: Mapping[str, Lookup]) -> None:
        for name in PLACEHOLDER.findall(path):
            if not name:
                self.problem(key, "an empty {} in the path", "name a payload field inside the braces")
                continue
            self.reference(name, key, shape, None, lookups, scalar=True)
        if path.count("{") != path.count("}"):
            self.problem(key, f"unbalanced braces in {path!r}", "write placeholders as {field}")

    def specs(self, raw: Any, key: Key, shape: PayloadShape | None, node: Any,
              lookups: Mapping[str, Lookup], *, flat: bool = False, whole: bool = False) -> dict[str, FieldSpec]:
        """Request fields from payload fields; ``whole``: a route's own body, which may also be ``payload`` (the
        whole payload; a search's, an update's or a lookup's body may not)."""
        if not isinstance(raw, dict) or not raw:
            self.problem(key, "must be a mapping of request field to payload field",
                         "write e.g. {name: name, billing_line1: billing_address.line1}" +
                         (", or body: payload to send the whole payload" if whole and not flat else ""))
            return {}
        found: dict[str, FieldSpec] = {}
        for name, spec in raw.items():
            where: Key = (*key, str(name))
            checked = self.spec(spec, where, shape, node, lookups, flat=flat)
            if checked is not None:
                found[str(name)] = checked
        return found

    def spec(self, raw: Any, key: Key, shape: PayloadShape | None, node: Any,
             lookups: Mapping[str, Lookup], *, flat: bool) -> FieldSpec | None:
        if isinstance(raw, str):
            if shape is not None:
                self.reference(raw, key, shape, node, lookups, scalar=flat)
            return FromField(path=raw)
        spec = self.mapping(raw, key, SPEC_KEYS, "a field mapping")
        if spec is None:
            return None
        if "value" in spec:
            if set(spec) != {"value"}:
                self.problem(key, "value is a constant and takes no other key",
                             "write {value: <constant>} alone")
            return Constant(value=spec["value"])
        source = self.string(spec, "from", key, required=True,
                             fix="give the payload field: {from: <field>}, or a constant: {value: ...}")
        keep_null = self.boolean(spec, "keep_null", key, False)
        as_json = self.boolean(spec, "json", key, False)
        if source is None:
            return None
        if as_json and "each" in spec:
            self.problem((*key, "json"), "json sends the field as it is, as JSON text; each builds a list of its own",
                         "write {from: <field>, json: true} alone, or each without json")
            return None
        if "each" not in spec:
            if shape is not None:
                self.reference(source, key, shape, node, lookups, scalar=flat and not as_json)
            return FromField(path=source, keep_null=keep_null, json=as_json)
        if flat:
            self.problem((*key, "each"), "a column takes one value, not a list", "map a single field")
            return None
        item = None
        if shape is not None:
            found = self.reference(source, key, shape, node, {}, scalar=False)
            if found is not None:
                item = shape.array_item(found)
                if item is None:
                    self.problem((*key, "from"), f"{source} is not an array", "use each only with an array field")
                    return None
        fields = self.specs(spec["each"], (*key, "each"), shape if item is not None else None, item, {})
        return EachItem(path=source, fields=fields, keep_null=keep_null)

    def batch(self, raw: Any, key: Key) -> BatchSpec | None:
        spec = self.mapping(raw, key, BATCH_KEYS, "batch")
        if spec is None:
            return None
        method = self.string(spec, "method", key, required=True, fix="give the batch endpoint's method, e.g. POST")
        if method is not None and method.upper() not in ("POST", "PUT", "PATCH"):
            self.problem((*key, "method"), f"{method!r} cannot carry a batch body", "use POST, PUT or PATCH")
            method = None
        path = self.string(spec, "path", key, required=True, fix="give the batch endpoint's path")
        if path is not None and ("{" in path or not path.startswith("/")):
            self.problem((*key, "path"), f"{path!r} must be a fixed path starting with /",
                         "a batch endpoint takes every entity in its body, so its path has no placeholders")
            path = None
        max_items = self.integer(spec, "max_items", key, 100, 1)
        linger_ms = self.integer(spec, "linger_ms", key, 20, 0)
        items_field = self.string(spec, "items_field", key, pattern=_IDENTIFIER) or "items"
        results_field = self.string(spec, "results_field", key, pattern=_IDENTIFIER) or "results"
        key_field = None if spec.get("key_field") is False else (  # false: the API takes no key in its items
            self.string(spec, "key_field", key, pattern=_IDENTIFIER,
                        fix="name the field of each item the key goes in, or write key_field: false to send none")
            or "idempotency_key")
        if method is None or path is None:
            return None
        return BatchSpec(method=method.upper(), path=path, max_items=max_items, linger_ms=linger_ms,
                         items_field=items_field, results_field=results_field, key_field=key_field)

    def sql_route(self, route: dict[str, Any], key: Key, head: RouteHead) -> SqlRoute | None:
        action = route.get("action", "upsert")
        if action not in ("upsert", "update", "delete"):
            self.problem((*key, "action"), f"{action!r} is not a SQL action", "use upsert, update or delete")
            action = None
        table = self.string(route, "table", key, required=True, pattern=_TABLE,
                            fix="give the table, optionally schema-qualified: public.product_availability"
                            + _AS_WRITTEN)
        key_columns = self.names(route, "key", key, _IDENTIFIER)
        if not key_columns:
            self.problem((*key, "key"), "key names no column",
                         "list the columns of the table's primary key or unique constraint: key: [sku]")
        payload_type, operation, shape = head.payload_type, head.operation, head.shape
        lookups = self.each_lookup(route.get("lookups"), (*key, "lookups"), SQL_LOOKUP_KEYS, SQL_LOOKUP_EXAMPLE,
                                   lambda name, body, where: self.sql_lookup(name, body, where, shape))
        # a column reading a lookup the file gets wrong is not refused too: the lookup's problems say it
        raw_lookups = route.get("lookups")
        named = cast(Mapping[str, Lookup], dict.fromkeys(raw_lookups)) if isinstance(raw_lookups, dict) else lookups
        columns: dict[str, FieldSpec] = {}
        if route.get("columns") is None:
            self.problem((*key, "columns"), "columns is missing", "map each column to a payload field")
        else:
            columns = self.specs(route["columns"], (*key, "columns"), shape,
                                 None if shape is None else shape.schema, named, flat=True)
            for name in columns:
                if not _IDENTIFIER.match(name):
                    self.problem((*key, "columns", name), f"{name!r} is not a column name",
                                 "use letters, digits and underscores")
        for column in key_columns:
            if columns and column not in columns:
                self.problem((*key, "key"), f"key column {column!r} is not among the columns",
                             f"add {column} to columns")
        self.lookup_columns(lookups, columns, key_columns, (action, operation), (*key, "lookups"))
        children = self.sql_children(route.get("children"), (*key, "children"), shape, action, table)
        only_changed = self.boolean(route, "only_changed", key, False)
        if payload_type is None or operation is None or table is None or action is None or not key_columns \
                or not columns or children is None:
            return None
        return SqlRoute(payload_type=payload_type, operation=operation, action=cast(Any, action), table=table,
                        key=key_columns, columns=columns, ids=head.ids, answers=head.answers, children=children,
                        lookups=lookups, only_changed=only_changed, line=self.located.line(key))

    def lookup_columns(self, lookups: Mapping[str, SqlLookup], columns: Mapping[str, FieldSpec],
                       key_columns: Sequence[str], route: tuple[str | None, str | None], key: Key) -> None:
        """Each of a SQL route's lookups fills a column that reads it. A key column only on a route that finds a row
        that exists (``key_from_lookup``: an update, deactivate or cancel with action update or delete, its row
        found by its business key); a create's or an upsert's key names the row it writes, the command's own. A
        delete route writes no column but its key, so its lookups fill key columns only."""
        action, operation = route
        for name in lookups:
            filled = [c for c, spec in columns.items() if isinstance(spec, FromField) and spec.path == name]
            if columns and not filled:
                self.problem((*key, name), f"lookup {name} fills no column: no column reads {name}",
                             f"map the column to it (columns: {{{name}: {name}}}), or remove the lookup")
            others = [c for c in filled if c not in key_columns]
            if action == "delete" and others:
                self.problem((*key, name), f"lookup {name} fills {', '.join(others)}, but a delete route writes no "
                             "column but its key", "remove the lookup, or let it fill a key column only (the row's "
                             "generated key, found by its business key)")
            for column in filled:
                if column in key_columns and not key_from_lookup(action, operation):
                    self.problem((*key, name), f"lookup {name} fills key column {column}, but the key of a route "
                                 f"with operation {operation} and action {action} names the row it writes (an upsert "
                                 "creates it when no row holds the key): the command's own, never read from another "
                                 "row", f"map {column} to a payload field (the row's business key); a lookup fills a "
                                 "key column only on an update, deactivate or cancel route with action update or "
                                 "delete, which finds a row that exists")

    def sql_children(self, raw: Any, key: Key, shape: PayloadShape | None, action: str | None,
                     table: str | None) -> tuple[SqlChildren, ...] | None:
        """A SQL route's ``children``: list fields of the payload written as rows of child tables (None: a
        problem was reported)."""
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            self.problem(key, f"children must be a non-empty list, got {_kind(raw)}", f"write {CHILDREN_EXAMPLE}")
            return None
        if action == "delete":
            self.problem(key, "a delete route removes its row and writes no children",
                         "remove children, and let the child table's foreign key (ON DELETE CASCADE) remove its rows "
                         "with the parent's, or route the command with action: update")
            return None
        reported = len(self.problems)
        found: list[SqlChildren] = []
        for index, item in enumerate(raw):
            child = self.sql_child(item, (*key, index), shape)
            if child is None:
                continue
            if child.table == table or child.table in (c.table for c in found):
                self.problem((*key, index, "table"), f"{child.table} is written twice by this route",
                             "write each child table once, and never the route's own table")
                continue
            found.append(child)
        return None if len(self.problems) > reported else tuple(found)

    def sql_child(self, raw: Any, key: Key, shape: PayloadShape | None) -> SqlChildren | None:
        child = self.mapping(raw, key, CHILDREN_KEYS, "a child table")
        if child is None:
            return None
        reported = len(self.problems)
        table = self.string(child, "table", key, required=True, pattern=_TABLE,
                            fix="give the child table, optionally schema-qualified: shop.order_line"
                            + _AS_WRITTEN)
        source = self.string(child, "from", key, required=True,
                             fix="name the payload's list field whose items are the rows: from: lines")
        item = None
        if source is not None and shape is not None:
            found = self.reference(source, (*key, "from"), shape, None, {}, scalar=False)
            item = None if found is None else shape.array_item(found)
            if found is not None and (item is None or not shape.fields(item)):
                self.problem((*key, "from"), f"{source} is not a list of records", "name a list field of the "
                             "payload whose items are records (a document's lines)")
        parent_key: dict[str, str] = {}
        raw_parent = child.get("parent_key")
        if not isinstance(raw_parent, dict) or not raw_parent:
            self.problem((*key, "parent_key"), f"parent_key must map child columns to parent columns, got "
                         f"{_kind(raw_parent)}", "write parent_key: {<child column>: <column of the route's table>}, "
                         "e.g. {order_id: id}, the parent row's generated id read back after its write")
        else:
            for name, parent in raw_parent.items():
                if not isinstance(name, str) or not _IDENTIFIER.match(name) or not isinstance(parent, str) \
                        or not _IDENTIFIER.match(parent):
                    self.problem((*key, "parent_key", str(name)), f"{name!r}: {parent!r} is not a child column "
                                 "and a column of the route's table", "write <child column>: <parent column>, "
                                 "plain column names; the parent row is read back after its write, so name the "
                                 "column of its generated id (auftrag_id: auftrag_id), not $id")
                else:
                    parent_key[name] = parent
        columns: dict[str, FieldSpec] = {}
        if child.get("columns") is None:
            self.problem((*key, "columns"), "columns is missing", "map each child column to a field of the items")
        else:
            columns = self.specs(child["columns"], (*key, "columns"), shape if item is not None else None, item, {},
                                 flat=True)
            for name in columns:
                if not _IDENTIFIER.match(name):
                    self.problem((*key, "columns", name), f"{name!r} is not a column name",
                                 "use letters, digits and underscores")
                elif name in parent_key:
                    self.problem((*key, "columns", name), f"{name} is the parent's key (parent_key) and takes "
                                 "its value from the parent row", f"remove {name} from columns")
        key_columns = self.names(child, "key", key, _IDENTIFIER)
        if not key_columns:
            self.problem((*key, "key"), "key names no column", "list the child table's primary key or unique "
                         "constraint, the parent's key first: key: [order_id, line_no]")
        for column in key_columns:
            if column not in columns and column not in parent_key:
                self.problem((*key, "key"), f"key column {column!r} is neither in columns nor in parent_key",
                             f"map {column} in columns")
        if parent_key and key_columns and not set(parent_key) <= set(key_columns):
            self.problem((*key, "key"), f"key {list(key_columns)} leaves out the parent's key "
                         f"{', '.join(sorted(set(parent_key) - set(key_columns)))}, so one parent's lines could "
                         "overwrite another's", "list the parent_key columns in key, then the line's own")
        mode = child.get("mode", "replace")
        if mode not in CHILD_MODES:
            self.problem((*key, "mode"), f"{mode!r} is not a children mode", f"use one of {', '.join(CHILD_MODES)} "
                         "(the list is the lines: rows not in it are deleted)")
        if len(self.problems) > reported or table is None or source is None:
            return None
        return SqlChildren(table=table, source=source, parent_key=parent_key, key=key_columns, columns=columns,
                           mode=cast(Any, mode), line=self.located.line(key))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def load_target(path: Path, schemas: SchemaSet | None = None, writable: Iterable[str] | None = None,
                adapters: AdapterRegistry | None = None) -> TargetConfig:
    """Read and check one target file; ``TargetConfigError`` lists every problem with its line and fix.
    ``writable``: the systems its ``system:`` may name (default: the writable declared systems); ``adapters``:
    the adapters its ``adapter:`` may name (default: the installed plugins)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = sorted(p.name for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise TargetConfigError(f"{shown(path)}: no such target file; known: {', '.join(known) or 'none'} "
                                f"(fix: create it, or point ISTHMUS_SINK_TARGETS_DIR at the folder that has "
                                f"it)") from None
    except OSError as exc:
        raise TargetConfigError(f"{shown(path)}: cannot read it: {exc}") from exc
    try:
        read = located(parse(text))
    except DuplicateKey as exc:
        problem = Problem(file=path, line=exc.line, field=exc.key, message=str(exc), fix="keep one of them")
        raise TargetConfigError(str(problem), [problem]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = Problem(file=path, line=mark.line + 1 if mark is not None else None, field=None,
                          message=f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                          fix="correct the YAML syntax there")
        raise TargetConfigError(str(problem), [problem]) from exc
    checker = TargetReader(path, read, schemas or load_schemas(),
                           tuple(writable) if writable is not None else writable_systems(),
                           adapters or default_registry())
    config = checker.check()
    if checker.problems or config is None:
        count = len(checker.problems)
        raise TargetConfigError(f"{shown(path)} is not a valid target file ({count} problem"
                                f"{'s' if count != 1 else ''}):\n  " + "\n  ".join(str(p) for p in checker.problems),
                                checker.problems)
    for warning in config.warnings:
        log.warning("target file %s", warning)
    return config
