"""What one attempt to apply a command came to, and how an HTTP answer is classified.

- applied: 2xx. ``replayed`` when the target answered from its idempotency table.
- refused: a 409 whose error ``field`` the route lists under ``refusals`` (the ERP's "account N is
  blocked"): the target's business answer, not a failure. It ends the command like an applied one, as a
  CommandResult carrying the status and answer (``Applied`` with ``refused``), for the flow that decides
  what such a state means; it is not retried, nor dead-lettered unless its flow reads no results (a command's
  ``reads_refusals``: ``streams.sinks.unread``).
- transient: 408, 425, 429, 5xx, no answer: retried (with ``Retry-After`` on 429 and 503); never
  dead-lettered before the configured deadline. 401 and 403 too: the target refuses Isthmus's credentials (a
  wrong or missing token), which is no command's fault; every command waits, as in an outage, until they work
  (``streams.sinks.credentials`` says so once per outage).
- conflict: 409 and 412, the entity is not in the state the write expects: retried once or dead-lettered,
  as the route's ``on_conflict`` says. On a route with a ``precondition``, the answer that the version its write
  carried is stale (``STALE_VERSION``): the version is read again and the write retried, as the precondition says.
- permanent: any other 4xx (and 1xx/3xx, which a write API never means): dead-lettered with the answer.
- gone: a deactivate or cancel whose record is not there, as its route's ``gone`` says (``streams.sinks.gone``):
  ``Applied`` with ``gone``, nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.sinks.adapters.mapping import MISSING, get_path

FailureKind = Literal["transient", "permanent", "conflict"]
TRANSIENT_STATUSES = frozenset({408, 425, 429})
#: The target refuses the credentials Isthmus sends (the route's auth): retried like an outage.
CREDENTIAL_STATUSES = frozenset({401, 403})
#: A 403 may also forbid one record while the credentials work for others (see ``CredentialRefusals.forbidden_here``).
FORBIDDEN = 403
CONFLICT_STATUSES = frozenset({409, 412})
#: 428 Precondition Required: the target takes the write only with the version of the record it holds.
PRECONDITION_REQUIRED = 428
#: The error_type of a write whose precondition's version was stale (see ``streams.sinks.adapters.versions``).
STALE_VERSION = "StaleVersion"
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: The error_type of a command whose job (a write the API answered with a job to poll, a route's ``job``) had not
#: ended within the route's ``job.timeout_s`` (see ``streams.sinks.adapters.jobs``).
JOB_TIMED_OUT = "JobTimedOut"


@dataclass(frozen=True, kw_only=True)
class Applied:
    status: int
    body: Any
    replayed: bool = False
    ids: Mapping[str, str] = field(default_factory=dict)
    #: The target refused the write as a business state the route declares (see ``refusals``): not applied.
    refused: bool = False
    #: The call that answered, as made (``PUT /v2/clients/AC000002``), for reasons; empty when the adapter does
    #: not say (a reason names the route's plan then).
    call: str = field(default="", compare=False)
    #: The answer's headers (names case-insensitive) where the adapter keeps them (HTTP: a precondition's
    #: version may be one, ``ETag``); empty otherwise.
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: The record was already gone, the state a deactivate or cancel asks for (see ``streams.sinks.gone``): what
    #: said so. Nothing was written; ``body`` holds it at ``$gone``. Empty for every other answer.
    gone: str = ""


@dataclass(frozen=True, kw_only=True)
class Failed:
    kind: FailureKind
    reason: str
    status: int | None = None
    answer: Any = None
    retry_after: float | None = None
    error_type: str = "TargetRefused"
    #: The adapter read this failure from an error its protocol defines (a JSON-RPC error reply): a route's
    #: ``answers`` rules leave it as it is, so one answer is never judged twice.
    protocol_error: bool = False
    #: The adapter knows the record is not there (an exact search found none, a SQL key no row): that, in words.
    #: A deactivate or cancel takes it for gone (``streams.sinks.gone``); any other command is dead-lettered.
    not_found: str = ""
    #: The call that answered, as made (``lookup account_id (GET /accounts/by-customer/C-000001)``), where the
    #: adapter says; empty otherwise.
    call: str = field(default="", compare=False)
    #: A transient failure that waits for a row another command writes (a SQL lookup's referenced row, not there
    #: yet): the target answered, so it counts toward neither the circuit breaker nor the failing-alone rule, and
    #: it is retried until ``wait_s`` after the command's first attempt, then dead-lettered. None: any other.
    wait_s: float | None = None
    #: The call got no answer within the request timeout: under load the sign of an overload (the target's rate
    #: comes down, streams/sinks/throttle.py), never evidence that the command fails alone (streams/sinks/retrying.py).
    timed_out: bool = False
    #: The call never went out: every connection to the target stayed busy with other calls (the sink's own queue).
    #: Not the target's failure: it counts toward neither the circuit breaker nor the failing-alone rule.
    unsent: bool = False


Attempt = Applied | Failed

#: A lookup found no record holding the payload's values exactly / several: the error types of every adapter's.
LOOKUP_NOT_FOUND = "LookupNotFound"
LOOKUP_AMBIGUOUS = "LookupAmbiguous"


def no_route(target_file: str, payload_type: str, operation: str, route_keys: str) -> Failed:
    """A command the target file has no route for: permanent, naming what a route of this adapter gives."""
    return Failed(kind="permanent", error_type="NoRoute",
                  reason=f"{target_file} has no route for {payload_type} {operation}; add one ({route_keys}) or "
                         "fix the flow that produced the command")


def null_not_sent(fields: Sequence[str], payload_type: str, operation: str, at: str, how: str) -> Failed:
    """A command clearing ``fields`` (null, among its changed fields) that its route (at ``at``, ``file:line``)
    reads but cannot send as null: permanent, before any call, since left out the target would keep the old value
    and the command be reported applied. ``how``: where the route would send it (``in the route's body``)."""
    names = ", ".join(fields)
    route = f"the route for {payload_type.rpartition('.')[2]} {operation} ({at})"
    specs = ", ".join(f"{{from: {name}, keep_null: true}}" for name in fields)
    return Failed(kind="permanent", error_type="NullNotSent",
                  reason=f"the command clears {names} (null, and named among its changed fields), which {route} "
                         f"cannot send as null, so the target would keep its old value; send the null {how} "
                         f"({specs}) and replay the dead letter, or, if the target cannot clear it, name it in "
                         "the flow file's systems.<system>.cannot_clear (flows/README.md)")


def classify_status(status: int) -> FailureKind | None:
    """None for success; otherwise which kind of failure a status is."""
    if 200 <= status < 300:
        return None
    if status in TRANSIENT_STATUSES or status in CREDENTIAL_STATUSES or status >= 500:
        return "transient"
    if status in CONFLICT_STATUSES:
        return "conflict"
    return "permanent"


def refusal(failed: Failed, fields: Sequence[str], *, body_error: bool = False) -> Applied | None:
    """A 409 about one of ``fields`` (the route's ``refusals``: the answer's ``field``) as the target's business
    answer; else None. ``body_error``: ``failed`` is an error the route's ``answers`` rules read in a 2xx's body
    (an API that answers everything with 200): its status does not matter, its ``field`` does."""
    answer = failed.answer
    if (failed.status is None or (failed.status != 409 and not body_error) or not fields
            or not isinstance(answer, Mapping) or answer.get("field") not in fields):
        return None
    return Applied(status=failed.status, body=answer, refused=True)


def assigned_ids(body: Any, ids: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """The ids a route names (``{name: dotted path}``; a list of names reads each at its own name) from an
    answer, as strings (booleans lower-case), skipping absent, null and structured values."""
    paths = ids if isinstance(ids, Mapping) else {name: name for name in ids}
    found: dict[str, str] = {}
    for name, path in paths.items():
        value = get_path(body, path) if isinstance(body, (Mapping, list)) else MISSING
        if value is MISSING or value is None or isinstance(value, (dict, list)):
            continue
        found[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return found


def unfound_ids(applied: Applied, ids: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """The ids (``{name: path}``) a route names that its successful answer has nothing at (absent, not null): a
    typo in the route's ``ids`` would otherwise record no id, silently."""
    paths = ids if isinstance(ids, Mapping) else {name: name for name in ids}
    body = applied.body
    return {name: path for name, path in paths.items()
            if name not in applied.ids and (not isinstance(body, (Mapping, list)) or get_path(body, path) is MISSING)}


#: Top-level keys whose value false says a call failed, and keys whose non-empty value is the failure's message.
_FAILED_FLAGS = ("ok", "success", "succeeded")
_ERROR_KEYS = ("error", "errors", "error_message", "errorMessage")


def error_shaped(answer: Any) -> str | None:
    """The ``answers.error`` rule that would read ``answer`` (a success's body) as a failure, when it reads like
    one: a top-level ``ok``/``success`` that is false, or a non-empty ``error``/``errors``; else None."""
    if not isinstance(answer, Mapping):
        return None
    message = next((k for k in _ERROR_KEYS if answer.get(k) not in (None, "", [], {}, False)), None)
    flag = next((k for k in _FAILED_FLAGS if answer.get(k) is False), None)
    if flag is not None:
        return f"{{when: {{path: {flag}, equals: false}}{f', message: {message}' if message else ''}}}"
    if message is not None:
        return f"{{when: {message}, message: {message}}}"
    return None


def top_keys(answer: Any) -> str:
    """What an answer holds at its top, for a reason: its keys, or what it is."""
    if isinstance(answer, Mapping):
        return ", ".join(str(k) for k in answer) or "none (an empty object)"
    if answer is None:
        return "none (no body)"
    return f"none (a {type(answer).__name__}, not an object)"


def answer_text(answer: Any, limit: int = 2000) -> str:
    """An answer body for a reason text: compact JSON, cut at ``limit`` characters."""
    if answer is None:
        return "no body"
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, separators=(",", ":"),
                                                              default=str)
    return text if len(text) <= limit else text[:limit] + "…"
