"""What a target file says, as typed values; ``loader`` builds them and checks every reference.

A target has one adapter (``http`` or ``sql``) and a route per (payload type, operation). A route says how
one command becomes one call: for HTTP the method, the path template and the body; for SQL the table, its
key and its columns. Body fields and columns use the same small language (:data:`FieldSpec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from streams.sinks.config.jsonrpc import JsonRpcOptions, JsonRpcRoute

OnConflict = Literal["retry_once", "dead_letter"]
ON_CONFLICT: tuple[OnConflict, ...] = ("retry_once", "dead_letter")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, kw_only=True)
class FromField:
    """A payload field, by dotted path (``billing_address.city``); a null value is left out unless kept."""

    path: str
    keep_null: bool = False


@dataclass(frozen=True, kw_only=True)
class Constant:
    """A fixed value, e.g. ``{value: false}``."""

    value: Any


@dataclass(frozen=True, kw_only=True)
class EachItem:
    """An array field, each item mapped by ``fields`` (paths relative to the item)."""

    path: str
    fields: Mapping[str, FieldSpec]
    keep_null: bool = False


FieldSpec = FromField | Constant | EachItem


@dataclass(frozen=True, kw_only=True)
class LookupSpec:
    """Fills reference ``name`` when the payload has no value for it: GET ``path``, take field ``take``."""

    name: str
    path: str
    take: str


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """A batch endpoint of the API: up to ``max_items`` commands of this route in one call.

    The request body is ``{items_field: [{key_field: <idempotency key>, **body}, ...]}`` and the answer
    ``{results_field: [{"status": <int>, "body": <object>}, ...]}`` in the same order. Declared and checked
    here; see targets/README.md for how the worker uses it.
    """

    method: str
    path: str
    max_items: int = 100
    linger_ms: int = 20
    items_field: str = "items"
    results_field: str = "results"
    key_field: str = "idempotency_key"


@dataclass(frozen=True, kw_only=True)
class HttpRoute:
    payload_type: str
    operation: str
    method: str
    path: str
    body: Mapping[str, FieldSpec] | None
    whole_payload: bool = False
    lookups: Mapping[str, LookupSpec] = field(default_factory=dict)
    ids: tuple[str, ...] = ()
    on_conflict: OnConflict = "retry_once"
    #: Error fields whose 409 is the target's business answer (e.g. ``account_id``: the account is blocked):
    #: recorded as a CommandResult with that status, not retried and not dead-lettered.
    refusals: tuple[str, ...] = ()
    only_changed: bool = False
    batch: BatchSpec | None = None
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class SqlRoute:
    payload_type: str
    operation: str
    action: Literal["upsert", "update", "delete"]
    table: str
    key: tuple[str, ...]
    columns: Mapping[str, FieldSpec]
    ids: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class AuthSpec:
    """A header whose value is a secret: from environment variable ``env`` or key ``secret`` of the stack's
    secrets file. Never logged; ``required: false`` sends no header when neither holds a value."""

    header: str
    scheme: str | None = None
    env: str | None = None
    secret: str | None = None
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class HttpOptions:
    base_url: str | None = None
    auth: AuthSpec | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SqlOptions:
    """Where the SQL target lives: ``database`` of the stack's server of the system's engine (PostgreSQL: the
    CRM's, MariaDB/MySQL: the ERP's), or the ``key=value`` conninfo in environment variable ``conninfo_env``;
    ``keys_table`` records each applied idempotency key (default: the adapter's, ``public.isthmus_sink_keys``
    on PostgreSQL, ``isthmus_sink_keys`` in the connection's database on MariaDB/MySQL)."""

    database: str | None = None
    conninfo_env: str | None = None
    keys_table: str | None = None


@dataclass(frozen=True, kw_only=True)
class TargetConfig:
    path: Path
    system: str
    adapter: Literal["http", "sql", "jsonrpc"]
    http: HttpOptions | None
    sql: SqlOptions | None
    routes: Mapping[tuple[str, str], HttpRoute | SqlRoute | JsonRpcRoute]
    #: The ``jsonrpc:`` section of a JSON-RPC target (streams/sinks/config/jsonrpc.py).
    jsonrpc: JsonRpcOptions | None = None

    def route(self, payload_type: str, operation: str) -> HttpRoute | SqlRoute | JsonRpcRoute | None:
        return self.routes.get((payload_type, operation))

    def http_routes(self) -> tuple[HttpRoute, ...]:
        return tuple(r for r in self.routes.values() if isinstance(r, HttpRoute))

    def sql_routes(self) -> tuple[SqlRoute, ...]:
        return tuple(r for r in self.routes.values() if isinstance(r, SqlRoute))
