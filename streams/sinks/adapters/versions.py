"""Optimistic concurrency for an HTTP route's ``precondition`` (targets/README.md, "Versions"): where the version
of the record a write changes is read, how the write carries it, and what the target's refusals mean. The calls
themselves are the HTTP adapter's; these are pure functions over their answers.

The version only proves that the sink read the record before writing it. The command carries the state its flow
decided, and field ownership settled who writes which field, so a stale answer (412) is a race with another
writer, answered by reading the version again and writing again (the ``Deliverer``, at most the precondition's
``retries`` times), never by merging.

Once-only: a version in a header leaves the request as its ``Idempotency-Key`` knows it, so a re-send after a lost
answer is answered from the target's idempotency table (it reads the version its own write made, which passes
the check wherever the target makes it). A version in the body changes the body, and a target that honours keys
refuses one key for two bodies (the reference apps answer 422), so that re-send would be dead-lettered: such a
write goes under the command's key with the version appended (:func:`version_key`). The same version makes the
same request; a re-send after a lost answer writes the same values once more, leaving the record as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.config.model import HttpRoute, Precondition
from streams.sinks.outcomes import PRECONDITION_REQUIRED, STALE_VERSION, Applied, Failed, top_keys

#: A version longer than this (or not plain ASCII) goes into an idempotency key as a digest.
KEY_VERSION_CHARS = 40
#: The line a dead letter of a 428 offers, for the usual case and for a version kept in the body.
DECLARE = ("precondition: {read: {header: ETag}, send: {header: If-Match}} (the ETag of a GET of the route's "
           "path, sent as If-Match; or read: {field: version}, send: {field: version} for a version kept in the "
           "body)")


@dataclass(frozen=True, kw_only=True)
class VersionRead:
    """An answer a version is read from: that of ``call`` (as made, ``GET /accounts/7``), and in it ``record``,
    the record the write changes (the item a lookup matched, or the one a search found; None: the answer is it)."""

    answer: Applied
    call: str
    record: Any = None


def route_named(route: HttpRoute, target_file: str) -> str:
    """``Account update (erp.yaml:12)``, for a reason that says which route to fix."""
    where = f"{target_file}:{route.line}" if route.line else target_file
    return f"{route.payload_type.rpartition('.')[2]} {route.operation} ({where})"


def version_in(read: VersionRead, guard: Precondition) -> Any:
    """The version at the precondition's ``read`` (a header of the answer, or a field of the record), or MISSING
    when it holds none (nothing, null, empty, or a structure rather than a value)."""
    if guard.read.header is not None:
        value: Any = read.answer.headers.get(guard.read.header)
    else:
        holder = read.record if read.record is not None else read.answer.body
        value = get_path(holder, guard.read.field or "") if isinstance(holder, (Mapping, list)) else MISSING
    if value is None or value == "" or isinstance(value, (Mapping, list)):
        return MISSING
    return value


def unread(read: VersionRead, guard: Precondition, route: HttpRoute, target_file: str) -> Failed:
    """The read answered without a version where the precondition says it is: the route reads the wrong place."""
    if guard.read.header is not None:
        holds = f"its headers: {', '.join(sorted(read.answer.headers)) or 'none'}"
    else:
        holder = read.record if read.record is not None else read.answer.body
        holds = f"its {'record' if read.record is not None else 'answer'}'s fields: {top_keys(holder)}"
    return Failed(kind="permanent", error_type="VersionMissing", status=read.answer.status, answer=read.answer.body,
                  reason=f"{read.call} answered without the record's version at {guard.read.shown()} ({holds}), so "
                         f"the write cannot carry it; fix precondition.read of route {route_named(route, target_file)}"
                         " to where the API puts the record's version, then replay the dead letter")


def version_text(version: Any) -> str:
    """A version as a header carries it: as read (an ETag keeps its quotes); a number as its digits."""
    if isinstance(version, bool):
        return "true" if version else "false"
    return str(version)


def version_key(key: str, version: Any) -> str:
    """The idempotency key of a write carrying ``version`` in its body: the command's, with the version."""
    text = version_text(version)
    if len(text) > KEY_VERSION_CHARS or not (text.isascii() and text.isprintable()):
        text = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{key}.v{text}"


def carried(guard: Precondition, version: Any, body: Any, key: str | None) -> tuple[dict[str, str], Any, str | None]:
    """The write's extra headers, body and idempotency key once it carries ``version`` where the precondition
    sends it (see the module's note on keys)."""
    if guard.send.header is not None:
        return {guard.send.header: version_text(version)}, body, key
    field = guard.send.field or ""
    sent = {**(body if isinstance(body, Mapping) else {}), field: version}
    return {}, sent, None if key is None else version_key(key, version)


def stale(failed: Failed, guard: Precondition, version: Any, read: VersionRead) -> Failed:
    """A write's failure; marked as a stale version (to be read again) when its status is one of ``stale``."""
    if failed.status not in guard.stale:
        return failed
    return Failed(kind="conflict", status=failed.status, answer=failed.answer, retry_after=failed.retry_after,
                  error_type=STALE_VERSION,
                  reason=f"{failed.reason} (the write carried {guard.send.shown(body=True)} "
                         f"{version_text(version)}, read from {guard.read.shown()} of {read.call}: the record "
                         "changed in between)")


def still_stale(failed: Failed, route: HttpRoute, target_file: str, reads: int) -> str:
    """The reason of a write still answered stale after the precondition's ``retries`` re-reads."""
    guard = route.precondition
    allowed = guard.retries if guard is not None else 0
    after = (f"still stale after {reads} re-read{'s' if reads != 1 else ''} of the version" if reads else
             "not read again: precondition.retries is 0")
    return (f"{failed.reason}; {after} (precondition.retries: {allowed} on route "
            f"{route_named(route, target_file)}): another writer changes the record between the sink's read and its "
            "write. Replay the dead letter once the record is quiet, or raise retries")


def required(failed: Failed, route: HttpRoute, target_file: str) -> Failed:
    """A 428 (Precondition Required) as what it asks for: on a route without a precondition, how to declare one;
    on a route with one, that the target wants the version elsewhere. Other failures as they are."""
    if failed.status != PRECONDITION_REQUIRED:
        return failed
    guard, named = route.precondition, route_named(route, target_file)
    if guard is None:
        reason = (f"{failed.reason}; the target requires a precondition: it takes this write only with the version "
                  f"of the record it holds (optimistic concurrency), and route {named} declares none. Fix: declare "
                  f"where the version is read and where the write carries it, e.g. {DECLARE}, in that route (see "
                  "targets/README.md, \"Versions\"), then replay the dead letter")
    else:
        reason = (f"{failed.reason}; the target requires a precondition, and the write carried the version in "
                  f"{guard.send.shown(body=True)}, where it does not look. Fix precondition.send of route {named} to "
                  "where the API's documentation says (commonly send: {header: If-Match}), then replay the dead "
                  "letter")
    return Failed(kind="permanent", reason=reason, status=failed.status, answer=failed.answer,
                  retry_after=failed.retry_after, error_type="PreconditionRequired")
