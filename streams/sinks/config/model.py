"""What a target file says, as typed values; ``loader`` builds them and checks every reference.

A target has one adapter, named by its registered name (``http``, ``sql``, or a plugin's: see
``streams.sinks.adapters.registry``), and a route per (payload type, operation). A route says how one command
becomes one call: for HTTP the method, the path template and the body; for SQL the table, its key and its
columns. Body fields and columns use the same small language (:data:`FieldSpec`). Every route, whatever its
adapter, may say which ids its answer carries (``ids``) and how its answer is read (``answers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from streams.config_files.problem import Problem

OnConflict = Literal["retry_once", "dead_letter"]
ON_CONFLICT: tuple[OnConflict, ...] = ("retry_once", "dead_letter")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: An HTTP header name (RFC 9110's token).
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
#: The header an HTTP call carries the command's idempotency key in, unless the target file names another
#: (``http.idempotency_header``: pretix honours ``X-Idempotency-Key``) or none (``false``).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Headers the HTTP adapter sets itself (lower-case), which a target file may not set.
RESERVED_HEADERS = (IDEMPOTENCY_HEADER.lower(), "content-type", "content-length", "host")


@dataclass(frozen=True, kw_only=True)
class FromField:
    """A payload field, by dotted path (``billing_address.city``); a null value is left out unless kept."""

    path: str
    keep_null: bool = False
    #: Sent as JSON text (``{from: stock, json: true}``): a record or list into one JSON or text column.
    json: bool = False


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


#: How long a lookup that finds nothing retries by default before its command is dead-lettered (``Lookup.wait_s``).
LOOKUP_WAIT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class Lookup:
    """A lookup of any adapter: it fills reference ``name`` (a path placeholder, a body field, a column) when the
    payload leaves it null, with ``take`` of the one record of the target whose every field of ``match`` (the
    target's field -> payload field) equals the payload's value exactly; none is "not found"
    (``LookupNotFound``), several are ambiguous (``LookupAmbiguous``): never a guess."""

    name: str
    take: str
    match: Mapping[str, str] = field(default_factory=dict)
    #: How long a command whose referenced record is not there yet is retried after its first attempt, before it
    #: is dead-lettered: the record's own command may be applied a moment later (a child decided before its
    #: parent, two flows' commands applied in parallel).
    wait_s: float = LOOKUP_WAIT_S


@dataclass(frozen=True, kw_only=True)
class LookupSpec(Lookup):
    """An HTTP lookup: call ``method path`` (with ``body``, built from the payload like a route's), take the
    answer's field at dotted path ``take``. With ``match`` (answer item's field -> payload field), ``take`` reads
    each item of a list (``items.*.uid``) and only the items holding the payload's values exactly count."""

    path: str
    method: str = "GET"
    body: Mapping[str, FieldSpec] | None = None



@dataclass(frozen=True, kw_only=True)
class SqlLookup(Lookup):
    """A SQL lookup: column ``take`` of the one row of ``table`` whose columns of ``match`` hold the payload's
    values, text for text (a collation's twins left aside), read in the transaction of the write. A null payload
    value in ``match`` is no reference (a root's parent): the column is written NULL, nothing read. No row: the
    command is retried for ``wait_s``, then dead-lettered."""

    table: str
    line: int | None = None

    def shown(self) -> str:
        """``crm.company.id by (tenant_id, external_code)``, for plans."""
        return f"{self.table}.{self.take} by ({', '.join(self.match)})"


#: Answer fields copied into ``CommandResult.assigned_ids``: the id's name -> a dotted path into the answer
#: (``ids: [account_id]`` is ``{account_id: account_id}``; ``ids: {account_id: result.0.id}`` reads deeper).
IdPaths = Mapping[str, str]


ConditionTest = Literal["present", "absent", "equals", "one_of", "matches"]
CONDITION_TESTS: tuple[ConditionTest, ...] = ("present", "absent", "equals", "one_of", "matches")


@dataclass(frozen=True, kw_only=True)
class Condition:
    """A test of an answer body at dotted ``path``: ``present`` (a non-null value is there), ``absent``
    (nothing or null), ``equals`` / ``one_of`` ``value``, ``matches`` (regular expression ``value`` found in
    the value's text)."""

    path: str
    test: ConditionTest = "present"
    value: Any = None

    def shown(self) -> str:
        """``field one_of ('account_id',)``, ``error present``: for reasons and plans."""
        if self.test in ("present", "absent"):
            return f"{self.path} {self.test}"
        return f"{self.path} {self.test} {self.value!r}"


@dataclass(frozen=True, kw_only=True)
class ErrorRule:
    """An answer that says the call failed, whatever its status (an error under HTTP 200): it holds when any of
    ``when`` holds; ``message`` is the path of the target's message for the dead letter; any of ``transient``
    holding makes the failure worth retrying instead."""

    when: tuple[Condition, ...]
    message: str | None = None
    transient: tuple[Condition, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AnswerRules:
    """How a route's answer is read beyond its status. ``success``: a 2xx answer is applied only when any of
    these holds (else a permanent failure); ``error``: see :class:`ErrorRule`, checked first."""

    error: ErrorRule | None = None
    success: tuple[Condition, ...] = ()
    line: int | None = None


#: The operations whose command asks for a state a missing record already has (gone or inactive): only their routes
#: may read an answer as "the record is not there" (``gone``), and only they never create (an external id's search
#: that finds none).
GONE_OPERATIONS = ("deactivate", "cancel")
#: What a deactivate or cancel route that declares no ``gone`` reads as "the record is not there", besides an exact
#: search that found none: 410 Gone, which no wrong path is answered with (a 404 is: see :class:`GoneRule`).
DEFAULT_GONE_STATUSES = (410,)


@dataclass(frozen=True, kw_only=True)
class GoneRule:
    """When a deactivate or cancel command finds its record already gone, which is the state it asks for: an
    answer (of the route's call, a lookup, a precondition's read) whose status is one of ``statuses`` (any status
    but a transient one when empty) and in which any of ``when`` holds (always when empty); or an exact search that
    found no record (an external id's, a lookup's ``match``, a SQL key), which is why ``statuses`` default to 410
    only: a 404 is also the answer to a wrong path (a typo in the target file), so it is read as gone only where the
    route says so, best with a ``when`` that tells the two apart (the reference apps' ``field``)."""

    statuses: tuple[int, ...] = DEFAULT_GONE_STATUSES
    when: tuple[Condition, ...] = ()
    #: False: the default of a route that says nothing (a 404 dead-lettered then says how to declare it).
    declared: bool = False
    line: int | None = None

    def shown(self) -> str:
        """``404 or 410 where field one_of ('account_id',), or a search that finds none``, for plans and logs."""
        statuses = " or ".join(map(str, self.statuses)) or "any answer"
        where = " or ".join(c.shown() for c in self.when)
        return f"{statuses}{f' where {where}' if where else ''}, or a search that finds none"


class Route(Protocol):
    """What every route has, whatever its adapter; a plugin's route class has these too."""

    @property
    def payload_type(self) -> str: ...

    @property
    def operation(self) -> str: ...

    @property
    def ids(self) -> IdPaths: ...

    @property
    def answers(self) -> AnswerRules | None: ...

    @property
    def line(self) -> int | None: ...

    def plan(self) -> str:
        """The call a command of this route becomes, in a few words (``PATCH /accounts/{account_id}``)."""
        ...


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """A batch endpoint of the API: up to ``max_items`` commands of this route in one call.

    The request body is ``{items_field: [{key_field: <idempotency key>, **body}, ...]}`` (no key when
    ``key_field`` is None: ``key_field: false``) and the answer ``{results_field: [{"status": <int>, "body":
    <object>}, ...]}`` in the same order (an item without a status is its own answer). Declared and checked
    here; see targets/README.md for how the worker uses it.
    """

    method: str
    path: str
    max_items: int = 100
    linger_ms: int = 20
    items_field: str = "items"
    results_field: str = "results"
    key_field: str | None = "idempotency_key"


@dataclass(frozen=True, kw_only=True)
class HttpCall:
    """One call of an external-id upsert: ``method path`` (``{field}`` placeholders, ``{$id}`` for the record
    found) with ``body`` built from the payload like a route's."""

    method: str
    path: str
    body: Mapping[str, FieldSpec] | None = None


#: The most pages of one external-id search read by default: a search by an external id finds one record, and a
#: handful only where the target's filter matches loosely (a search's ``max_pages`` raises it).
MAX_SEARCH_PAGES = 20
#: The longest ``external_id.search.lag_s`` taken: a command's attempt waits it out.
MAX_SEARCH_LAG_S = 300.0


@dataclass(frozen=True, kw_only=True)
class HttpSearch(HttpCall):
    """The search by external id: ``found_id`` is the dotted path of the found records' ids in its answer
    (``*`` for every item of a list: ``items.*.account_id``); an answer with a status of ``not_found`` (a
    ``GET /accounts/by-customer/{n}`` answering 404) found none. ``match``: the path, in each record of the
    answer's list, of the external id the target keeps (default: the external id's own field name); only the
    records holding the command's value exactly count. ``next``: the path, in the answer, of the next page's
    marker (none or null on the last page): a path or URL to GET, or a cursor the next call sends as query
    parameter ``next_param``; ``max_pages``: the most pages read before the command fails (``SearchTooLong``);
    ``lag_s``: how long the target's search may take to show a record it has just made (an eventually consistent
    search index): a command whose create may have made its record (no answer, a 5xx, a duplicate refusal) searches
    again only once that long has passed since."""

    found_id: str
    not_found: tuple[int, ...] = ()
    match: str | None = None
    next: str | None = None
    next_param: str | None = None
    max_pages: int = MAX_SEARCH_PAGES
    lag_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DuplicateRule:
    """A failed create that is the target's unique violation on the external id: its status is one of
    ``statuses`` (any when empty) and any of ``when`` holds in its answer (always when empty)."""

    statuses: tuple[int, ...] = ()
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True, kw_only=True)
class HttpExternalId:
    """Create as "search by external id, then create or update" (see ``streams.sinks.adapters.upsert``):
    ``field`` is the payload path of the id the target keeps; ``update`` (none: leave a found record as it is);
    ``created_id`` the new record's id in the create's answer; ``duplicate`` the create's failure that means
    another writer made the record first."""

    field: str
    search: HttpSearch
    update: HttpCall | None = None
    created_id: str | None = None
    duplicate: DuplicateRule | None = None


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What the target takes (the target file's ``limits:``). ``lines_per_call``: the most items of a document's
    lines, a body field mapped with ``each:`` (None: no limit). A command over it is sent in parts where its route
    declares ``parts``, else refused before any call (a result the flow holds); on a ``sql`` target, the most child
    rows of one statement (every row still written in the command's one transaction). ``requests_per_second``: the
    most calls a second the sink makes to the target, every call counted (searches, lookups, batches, parts); None:
    no ceiling, only the rate the sink adapts after a 429 (streams/sinks/rate.py)."""

    lines_per_call: int | None = None
    requests_per_second: float | None = None
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class PartsSpec:
    """How the target takes the rest of a document bigger than one call: the route's own call carries the first
    ``limits.lines_per_call`` items of body field ``field``; each further part is ``method path`` with the body
    ``{field: [<up to lines_per_call items>]}``. The path's placeholders are filled from the ids the first call's
    answer assigned (the route's ``ids``), else from the payload."""

    field: str
    method: str
    path: str


#: The statuses a target may answer a write carrying a stale version with: 412 Precondition Failed (RFC 9110),
#: or 409 where the API says so.
STALE_STATUSES = (409, 412)
#: Reads of the version again after a stale answer, each followed by the write, before the command is dead-lettered.
PRECONDITION_RETRIES = 3
#: Where a precondition's version is read from: a GET of the path the write goes to, a lookup of the route, or
#: the record its external id's search found.
PreconditionSource = Literal["path", "lookup", "search"]


@dataclass(frozen=True, kw_only=True)
class VersionPlace:
    """Where a record's version is in an answer, or goes in a write: a header (``ETag``, ``If-Match``), or a body
    field (read: a dotted path, ``meta.version``; sent: a top-level field of the request body)."""

    header: str | None = None
    field: str | None = None

    def shown(self, *, body: bool = False) -> str:
        if self.header is not None:
            return f"header {self.header}"
        return f"{'body ' if body else ''}field {self.field}"


@dataclass(frozen=True, kw_only=True)
class Precondition:
    """Optimistic concurrency: a target that takes a write only with the version of the record it holds
    (``If-Match: <ETag>``, else 428; 412 when the version is stale). Before each write the sink reads the version
    at ``read`` in the answer of ``source`` (a GET of the write's own path; the route's lookup ``lookup``; or the
    record its external id's search found) and the write carries it at ``send``. An answer of a status in ``stale``
    means the record changed between the read and the write: the version is read again and the write sent again,
    at most ``retries`` times. Writing over the newer version is right: the command carries the state its flow
    decided, and field ownership settled who writes which field; the version only proves the sink read first."""

    read: VersionPlace
    send: VersionPlace
    source: PreconditionSource = "path"
    lookup: str | None = None
    stale: tuple[int, ...] = (412,)
    retries: int = PRECONDITION_RETRIES
    line: int | None = None

    def plan(self, path: str) -> str:
        """``header If-Match from header ETag of GET /accounts/{account_id}`` for a write to ``path``."""
        source = {"path": f"GET {path}", "lookup": f"lookup {self.lookup}",
                  "search": "the record the search found"}[self.source]
        return f"{self.send.shown(body=True)} from {self.read.shown()} of {source}"


#: A ``{name}`` of a path (a route's, a lookup's, a search's, a job's): what it names, as ``findall`` gives it.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

#: The statuses of an answer that is a job to poll by default (``202 Accepted``).
JOB_STATUSES = (202,)
#: A job is polled first ``poll_s`` after it was accepted, then each wait doubles, up to this.
JOB_POLL_MAX_S = 30.0


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """A route whose API creates asynchronously: an answer of a status in ``when`` (``202 Accepted``) names a job,
    polled (GET, with the target's auth and headers, under its rate) at ``path`` (``{name}``: a dotted path into the
    accepting answer) or at the answer's ``Location`` header (``location``) until one of ``done`` holds (the
    command is applied: its ``ids`` read at ``result`` in the job's answer) or one of ``failed`` does (dead-lettered
    with the job's message at ``message``, never sent again). Waits ``poll_s``, then twice as long each time up to
    :data:`JOB_POLL_MAX_S`; a job not ended ``timeout_s`` after it was accepted is dead-lettered (``JobTimedOut``).
    See ``streams.sinks.adapters.jobs``."""

    when: tuple[int, ...] = JOB_STATUSES
    path: str | None = None
    location: bool = False
    done: tuple[Condition, ...]
    failed: tuple[Condition, ...] = ()
    message: str | None = None
    result: str | None = None
    poll_s: float = 1.0
    timeout_s: float = 600.0
    line: int | None = None

    def plan(self) -> str:
        """``then GET /jobs/{job_id} until status one_of ('done',)``, for plans."""
        where = "the answer's Location" if self.location else self.path
        return f"then GET {where} until {' or '.join(c.shown() for c in self.done)}"


@dataclass(frozen=True, kw_only=True)
class HttpRoute:
    payload_type: str
    operation: str
    method: str
    path: str
    body: Mapping[str, FieldSpec] | None
    whole_payload: bool = False
    lookups: Mapping[str, LookupSpec] = field(default_factory=dict)
    ids: IdPaths = field(default_factory=dict)
    answers: AnswerRules | None = None
    on_conflict: OnConflict = "retry_once"
    #: Error fields whose 409 is the target's business answer (e.g. ``account_id``: the account is blocked):
    #: recorded as a CommandResult with that status, not retried and not dead-lettered.
    refusals: tuple[str, ...] = ()
    only_changed: bool = False
    batch: BatchSpec | None = None
    #: Once-only from an id the target keeps instead of ``Idempotency-Key`` (the route sends none).
    external_id: HttpExternalId | None = None
    parts: PartsSpec | None = None
    #: The version of the record the write must carry (``If-Match``); on an ``external_id`` route, its update's.
    precondition: Precondition | None = None
    #: The API answers a job to poll instead of the record (``202 Accepted``): see :class:`JobSpec`.
    job: JobSpec | None = None
    line: int | None = None

    def plan(self) -> str:
        parts = f", more lines by {self.parts.method} {self.parts.path}" if self.parts else ""
        parts += f", {self.job.plan()}" if self.job else ""
        if self.batch is not None:
            parts += (f", in batches of up to {self.batch.max_items} by {self.batch.method} {self.batch.path} "
                      f"(linger {self.batch.linger_ms} ms)")
        guard = self.precondition
        if self.external_id is None:
            carries = f" with {guard.plan(self.path)}" if guard else ""
            return f"{self.method} {self.path}{carries}{parts}"
        search, update = self.external_id.search, self.external_id.update
        carries = f" with {guard.plan(update.path)}" if guard and update else ""
        also = f", else {update.method} {update.path}{carries}" if update else ""
        missing = "gone" if self.operation in GONE_OPERATIONS else f"{self.method} {self.path}"  # never made again
        return f"{search.method} {search.path} by {self.external_id.field}, {missing} if none{also}{parts}"

    def list_fields(self) -> tuple[str, ...]:
        """The body fields mapped with ``each:``: the document's lines, which ``parts`` can send in parts."""
        return tuple(name for name, spec in (self.body or {}).items() if isinstance(spec, EachItem))

    def whole_list(self, name: str) -> bool:
        """Whether body field ``name`` is a payload field sent as it is (``lines: lines``, or any field of
        ``body: payload``): a list there goes whole, and ``limits.lines_per_call`` bounds it as it bounds an
        ``each:`` field."""
        if self.whole_payload:
            return True
        spec = (self.body or {}).get(name)
        return isinstance(spec, FromField) and not spec.json


#: What a route's ``children`` do with the child rows of its parent: ``replace`` (the list is the lines: rows
#: of the list are upserted by their key, the parent's other child rows deleted).
ChildMode = Literal["replace"]
CHILD_MODES: tuple[ChildMode, ...] = ("replace",)


@dataclass(frozen=True, kw_only=True)
class SqlChildren:
    """A list field of the payload (``source``, a document's lines) written as rows of child table ``table``, in
    the transaction of the route's own row: each item mapped by ``columns`` (paths relative to the item), plus
    ``parent_key`` (child column -> a column of the parent row as written, read back after its write, so an id
    the database generated serves); ``key`` is the child rows' own key (a primary key or unique constraint)."""

    table: str
    source: str
    parent_key: Mapping[str, str]
    key: tuple[str, ...]
    columns: Mapping[str, FieldSpec]
    mode: ChildMode = "replace"
    line: int | None = None

    def written(self) -> tuple[str, ...]:
        """Every column of the child table a row writes: the parent's key, then the item's columns."""
        return (*self.parent_key, *self.columns)


#: The operations whose SQL route may fill a key column from a lookup (with action update or delete): they find a row
#: that exists, by its business key when the payload does not have the generated key yet (an update decided before
#: the created row's id came back). A create's or an upsert's key names the row it writes: the command's own.
KEY_LOOKUP_OPERATIONS = ("update", "deactivate", "cancel")


def key_from_lookup(action: str | None, operation: str | None) -> bool:
    """A route of this action and operation may fill a key column from a lookup (``KEY_LOOKUP_OPERATIONS``)."""
    return action in ("update", "delete") and operation in KEY_LOOKUP_OPERATIONS


@dataclass(frozen=True, kw_only=True)
class SqlRoute:
    payload_type: str
    operation: str
    action: Literal["upsert", "update", "delete"]
    table: str
    key: tuple[str, ...]
    columns: Mapping[str, FieldSpec]
    ids: IdPaths = field(default_factory=dict)
    answers: AnswerRules | None = None
    children: tuple[SqlChildren, ...] = ()
    #: Columns the payload leaves null filled from another row (a parent's generated id), by the column's reference.
    lookups: Mapping[str, SqlLookup] = field(default_factory=dict)
    #: An update writes only the columns of its command's ``changed_fields`` (and the key): a concurrent edit of
    #: another column in the table is not overwritten with the value the command was decided on.
    only_changed: bool = False
    line: int | None = None

    def plan(self) -> str:
        lines = "".join(f", {c.mode} {c.table} on ({', '.join(c.key)}) from {c.source}" for c in self.children)
        looked = "".join(f", {name} from {lookup.shown()}" for name, lookup in self.lookups.items())
        return f"{self.action} {self.table} on ({', '.join(self.key)}){looked}{lines}"


@dataclass(frozen=True, kw_only=True)
class Credential:
    """A value from environment variable ``env``, else key ``secret`` of the stack's secrets file; or a
    ``constant`` (only a name may be written in a file, a user or a client id, never a password or a secret)."""

    env: str | None = None
    secret: str | None = None
    constant: str | None = None

    def shown(self) -> str:
        """Where the value comes from, for messages (never the value of a secret)."""
        if self.constant is not None:
            return repr(self.constant)
        looked = [f"environment variable {self.env}"] if self.env else []
        if self.secret:
            looked.append(f"key {self.secret} of the stack secrets file")
        return " or ".join(looked)


OAuth2ClientAuth = Literal["body", "basic"]
OAUTH2_CLIENT_AUTH: tuple[OAuth2ClientAuth, ...] = ("body", "basic")


@dataclass(frozen=True, kw_only=True)
class OAuth2Spec:
    """OAuth2 client credentials (RFC 6749 4.4): the token is obtained by ``POST token_url`` (form-encoded
    ``grant_type=client_credentials``, ``scope``, ``audience``; the client's id and secret in the form, or as HTTP
    Basic with ``client_auth: basic``), sent as the auth header, renewed ``refresh_before_s`` before it expires and
    once when a call is answered 401."""

    token_url: str
    #: the file's ``client_id`` (named apart from the Kafka clients' ids, which streams.kafka.names builds)
    oauth_client_id: Credential
    client_secret: Credential
    scope: str | None = None
    audience: str | None = None
    client_auth: OAuth2ClientAuth = "body"
    refresh_before_s: float = 30.0


@dataclass(frozen=True, kw_only=True)
class AuthSpec:
    """A header whose value is a secret: from environment variable ``env`` or key ``secret`` of the stack's
    secrets file, or a token ``oauth2`` obtains. Never logged; ``required: false`` sends no header when neither
    holds a value."""

    header: str
    scheme: str | None = None
    env: str | None = None
    secret: str | None = None
    required: bool = True
    oauth2: OAuth2Spec | None = None
    #: The line of the ``auth:`` entry in the target file, for errors about its secret.
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class HttpOptions:
    base_url: str | None = None
    auth: AuthSpec | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The header that carries the command's idempotency key; None: the target honours none, send no key.
    idempotency_header: str | None = IDEMPOTENCY_HEADER


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
    #: The registered name of the adapter (``http``, ``sql``, or a plugin's).
    adapter: str
    http: HttpOptions | None
    sql: SqlOptions | None
    routes: Mapping[tuple[str, str], Route]
    #: What the adapter's own section (the ``<adapter>:`` key) parsed to: HttpOptions for ``http``,
    #: SqlOptions for ``sql``, a plugin's own value for a plugin (None when it has no section parser).
    options: Any = None
    limits: Limits = field(default_factory=Limits)
    #: What loads but may not do what the file means (each logged as a WARNING at load, and by ``--check``).
    warnings: tuple[Problem, ...] = ()
    #: Per deactivate or cancel route, its ``gone`` rule as the file declares it (None: ``gone: false``); a route
    #: not listed has the default (:meth:`gone_rule`).
    gone: Mapping[tuple[str, str], GoneRule | None] = field(default_factory=dict)

    def route(self, payload_type: str, operation: str) -> Route | None:
        return self.routes.get((payload_type, operation))

    def gone_rule(self, payload_type: str, operation: str) -> GoneRule | None:
        """When a command of this route finds its record gone (None: never; only deactivate and cancel can)."""
        if (payload_type, operation) in self.gone:
            return self.gone[(payload_type, operation)]
        if operation in GONE_OPERATIONS and (payload_type, operation) in self.routes:
            return GoneRule()
        return None

    def http_routes(self) -> tuple[HttpRoute, ...]:
        return tuple(r for r in self.routes.values() if isinstance(r, HttpRoute))

    def sql_routes(self) -> tuple[SqlRoute, ...]:
        return tuple(r for r in self.routes.values() if isinstance(r, SqlRoute))
