"""Apply commands through an HTTP API, as a target file's routes declare: one call per command, with the
command's idempotency key in the ``Idempotency-Key`` header (or the one ``http.idempotency_header`` names, or
none); or, for a route with a batch endpoint, the
command's item in a batch call shared with the commands applied at the same time (see ``batching``); or, for a
route with an ``external_id``, "search, then create or update" without the key (see ``http_upsert``). A route
with a ``precondition`` reads the record's version before each write and carries it (see ``versions``); one with
a ``job`` polls the job its write was answered with (``202 Accepted``) until it ends (see ``jobs``). With
``http.auth.oauth2`` every call carries the session's token (see ``oauth2``), and one answered 401 is sent once more
with a new token."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import httpx

from streams.config.secret import Secret
from streams.errors import exception_text
from streams.sinks.adapters.auth import auth_header
from streams.sinks.adapters.batching import Batcher, BatchItem
from streams.sinks.adapters.http_upsert import HttpUpsert, paging_hint
from streams.sinks.adapters.jobs import JobPoller, is_job
from streams.sinks.adapters.mapping import (
    MISSING,
    UnresolvedReference,
    changed_with_lookups,
    get_path,
    http_null_reads,
    lookups_needed,
    placeholders,
    reference,
    render_fields,
    render_path,
    spec_references,
    unsent_nulls,
)
from streams.sinks.adapters.oauth2 import oauth2_session
from streams.sinks.adapters.parts import oversize, part_key, split, too_big
from streams.sinks.adapters.pool import pooled_transport
from streams.sinks.adapters.session import LoginFailed, LoginRefused, Session
from streams.sinks.adapters.upsert import FoundIdPathError, FoundRecord, found_records, same_value, upsert
from streams.sinks.adapters.versions import VersionRead, carried, required, stale, unread, version_in
from streams.sinks.answers import judge
from streams.sinks.backoff import parse_retry_after
from streams.sinks.config.model import (
    GONE_OPERATIONS,
    IDEMPOTENCY_HEADER,
    AnswerRules,
    HttpRoute,
    IdPaths,
    LookupSpec,
    TargetConfig,
)
from streams.sinks.outcomes import (
    LOOKUP_AMBIGUOUS,
    LOOKUP_NOT_FOUND,
    RETRY_AFTER_STATUSES,
    Applied,
    Attempt,
    Failed,
    answer_text,
    assigned_ids,
    classify_status,
    no_route,
    null_not_sent,
    refusal,
)
from streams.sinks.records import SinkCommand
from streams.sinks.throttle import RequestThrottle, Slots

log = logging.getLogger("isthmus.sink")

IDEMPOTENCY_STATUS_HEADER = "Idempotency-Key-Status"
USER_AGENT = "isthmus-sink"


def decoded_answer(response: httpx.Response) -> Any:
    """A target's answer as JSON when it is JSON, else its text (None when empty): for every HTTP-borne adapter."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def retry_after_of(response: httpx.Response) -> float | None:
    """The seconds a 429 or 503 asks the sink to wait (``Retry-After``); None for other answers or none given."""
    if response.status_code not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


def unanswered(exc: httpx.TransportError, *, system: str, what: str, timeout_s: float, connections: int) -> Failed:
    """A call that got no answer: worth retrying. Waiting for a connection of the sink's own pool (every one busy
    with other calls) is said as such and is no failure of the target (``unsent``); a timeout is one of the target
    (``timed_out``: under load, an overload); else the target could not be reached."""
    if isinstance(exc, httpx.PoolTimeout):
        return Failed(kind="transient", error_type="ConnectionsBusy", unsent=True,
                      reason=f"all {connections} connections to {system} busy for {timeout_s:g} s: {what} did not "
                             "go out (the sink's own queue, not a failure of the target)")
    if isinstance(exc, httpx.TimeoutException):
        return Failed(kind="transient", error_type=type(exc).__name__, timed_out=True,
                      reason=f"{system} gave no answer to {what} within {timeout_s:g} s")
    return Failed(kind="transient", error_type=type(exc).__name__,
                  reason=f"{system} could not be reached for {what}: {exception_text(exc)}")


class LookedUp(NamedTuple):
    """A lookup's value, and its answer (where a precondition may read the record's version)."""

    value: Any
    read: VersionRead


class _Refused(Exception):
    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.reason)
        self.failed = failed


def too_large(system: str, size: int) -> str:
    """What a 413 means and what to do: the target refuses a request body of ``size`` bytes."""
    return (f"{system} refuses a request this large (a JSON body of {size} bytes), so sending it again cannot help: "
            "make what one call carries smaller (only_changed: true sends only the fields that changed; a "
            "document's lines go in parts with limits.lines_per_call and parts, targets/README.md \"Limits\"; or "
            "shorten the data at its source), or have the target take larger bodies, then replay the dead letter "
            "(isthmus topics dlq replay)")


class HttpAdapter:
    def __init__(self, config: TargetConfig, *, base_url: str, timeout_s: float, max_connections: int,
                 env: Mapping[str, str], secrets_file: Any = None,
                 transport: httpx.AsyncBaseTransport | None = None, throttle: RequestThrottle | None = None) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.system = config.system.upper()
        http = config.http
        self._auth: tuple[str, Secret] | None = auth_header(http.auth if http else None, env=env,
                                                             secrets_file=secrets_file, where=str(config.path))
        self._static = dict(http.headers) if http else {}
        #: Where the command's idempotency key goes (``http.idempotency_header``); None: nowhere.
        self._key_header = http.idempotency_header if http else IDEMPOTENCY_HEADER
        self._batchers: dict[tuple[str, str], Batcher] = {}
        #: Per command, when a create through an external id may have made its record unseen by a lagging search
        #: (``external_id.search.lag_s``; streams/sinks/adapters/http_upsert.py).
        self._unsure_creates: dict[str, float] = {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, limits=limits,
                                         transport=transport or pooled_transport(limits))
        auth = http.auth if http else None
        #: The OAuth2 token's session (http.auth.oauth2), shared by every call; None for a fixed header.
        self._session: Session | None = None
        if auth is not None and auth.oauth2 is not None:
            self._session = oauth2_session(auth, client=self._client, env=env, secrets_file=secrets_file,
                                           where=str(config.path), timeout_s=timeout_s)
        #: Calls wait for a connection here, not in httpcore's pool: the pool walks every waiting request and
        #: every connection on each change (and asks sniffio, an import that fails, each time), so a few hundred
        #: commands waiting on 32 connections made that walk the ERP sink's main cost (py-spy, issue 17). The
        #: oldest command's call is let in first, as in the throttle.
        self._slots = Slots(max_connections)
        self._slots_total = max_connections
        #: Every call's turn under the target's rate (limits.requests_per_second, lowered by 429s): taken with a
        #: connection slot in hand, so a call goes out the moment its turn comes.
        self.throttle = throttle or RequestThrottle.for_target(config.path, config.system,
                                                               config.limits.requests_per_second)
        #: Polls the job a route's write was answered with (a route's ``job``), through :meth:`_call`.
        self.jobs = JobPoller(system=self.system, target_file=config.path.name, base_url=self.base_url,
                              poll=self._job_poll)

    def describe(self) -> str:
        auth = f", auth header {self._auth[0]}" if self._auth else ""
        oauth2 = self.config.http.auth.oauth2 if self.config.http and self.config.http.auth else None
        if self._session is not None and oauth2 is not None:
            auth = f", auth header {self._session.header}: an OAuth2 token from {oauth2.token_url}"
        key = f", idempotency key in {self._key_header}" if self._key_header else ", no idempotency key sent"
        return f"HTTP {self.base_url} ({len(self.config.routes)} routes from {self.config.path.name}{key}{auth})"

    async def start(self) -> None:
        """Obtain the OAuth2 token before the first command, so refused credentials stop the worker at start."""
        await self.log_in()

    async def log_in(self) -> bool:
        """Obtain the OAuth2 token now (``isthmus sink --check`` too); refused, it raises :class:`LoginRefused`
        naming the token URL and the endpoint's answer, never the secret."""
        if self._session is None:
            return False
        try:
            await self._session.current()
            return True
        except LoginFailed as exc:
            auth = self.config.http.auth if self.config.http else None
            assert auth is not None and auth.oauth2 is not None
            line = f":{auth.line}" if auth.line else ""
            oauth2 = auth.oauth2
            raise LoginRefused(f"{self.config.path}{line}: {exc.failed.reason}; fix: check the client's id "
                               f"({oauth2.oauth_client_id.shown()}) and secret ({oauth2.client_secret.shown()}), "
                               "and the token_url, scope and audience of http.auth.oauth2") from None

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        await self._client.aclose()

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **self._static}
        if key is not None and self._key_header is not None:
            headers[self._key_header] = key
        if self._auth is not None:
            headers[self._auth[0]] = self._auth[1].reveal()
        return headers

    async def attempt(self, command: SinkCommand) -> Attempt:
        route = self.config.route(command.payload_type, command.operation)
        if not isinstance(route, HttpRoute):
            return no_route(self.config.path.name, command.payload_type, command.operation,
                            "payload_type, operation, method, path, body")
        unsent = unsent_nulls(command.payload, command.changed_fields, self._null_reads(command, route))
        if unsent:
            return null_not_sent(unsent, route.payload_type, route.operation, f"{self.config.path.name}:{route.line}",
                                 "in the route's body")
        try:
            looked = await self._lookups(command, route)
            looked_up = {name: found.value for name, found in looked.items()}
            path = render_path(route.path, command.payload, looked_up)
            body = self._body(command, route, looked_up)
        except _Refused as refused:
            return refused.failed
        except UnresolvedReference as missing:
            return Failed(kind="permanent", error_type="UnresolvedReference",
                          reason=f"{route.method} {route.path}: the payload has no value for {{{missing.name}}} "
                                 f"and no lookup filled it; send {missing.name} in the payload or add a lookup "
                                 f"for it to the route in {self.config.path.name}")
        over = oversize(route, body, self.config.limits.lines_per_call)
        if over is not None:
            if route.parts is None or route.parts.field != over.field:
                return too_big(over, route=route, target_file=self.config.path.name)
            return await self._in_parts(command, route, path, body, looked_up, over.limit)
        if route.external_id is not None:
            outcome = await self._upsert(command, route, path, body, looked_up)
        elif route.batch is not None:
            fields = {name: reference(command.payload, name, looked_up) for name in placeholders(route.path)}
            outcome = await self._batcher(route).submit(BatchItem(
                key=command.idempotency_key, fields={**fields, **(body or {})}, method=route.method, path=path,
                body=body, ids=route.ids))
        else:
            guard = route.precondition
            read = looked[guard.lookup].read if guard is not None and guard.lookup in looked else None
            outcome = await self._write(route, route.method, path, body, command.idempotency_key, route.ids, read)
            outcome = await self._job(route, outcome, route.method, path, command)
        if isinstance(outcome, Failed):
            return refusal(outcome, route.refusals) or required(outcome, route, self.config.path.name)
        return outcome

    async def _write(self, route: HttpRoute, method: str, path: str, body: Any, key: str | None, ids: IdPaths,
                     read: VersionRead | None = None) -> Attempt:
        """A write of the command. With the route's precondition it carries the record's version, from ``read``
        (the answer of the lookup or search the precondition names) or else from a GET of ``path``; a stale
        answer is marked so, for the deliverer to read the version again."""
        guard = route.precondition
        if guard is None:
            return await self._call(method, path, body, key, ids)
        if read is None:
            got = await self._read(route, path)
            if isinstance(got, Failed):
                return got
            read = got
        version = version_in(read, guard)
        if version is MISSING:
            return unread(read, guard, route, self.config.path.name)
        headers, body, key = carried(guard, version, body, key)
        outcome = await self._call(method, path, body, key, ids, headers=headers)
        return stale(outcome, guard, version, read) if isinstance(outcome, Failed) else outcome

    async def _job(self, route: HttpRoute, outcome: Attempt, method: str, path: str, command: SinkCommand) -> Attempt:
        """The write's outcome; for an answer the route's ``job`` reads as a job to poll, the job's, once it has
        ended (see ``streams.sinks.adapters.jobs``). The accepting answer is read by the route's ``answers.error``
        rule first: a 202 that says the call failed is that failure."""
        if route.job is None or not is_job(route.job, outcome):
            return outcome
        assert isinstance(outcome, Applied)
        call = f"{method} {path}"
        answers = route.answers
        if answers is not None and answers.error is not None:
            judged = judge(AnswerRules(error=answers.error), outcome, system=self.system, call=call)
            if isinstance(judged, Failed):
                return judged
        return await self.jobs.outcome(route.job, outcome, call=call, path=path, ids=route.ids,
                                       entity=command.entity_key)

    async def _job_poll(self, where: str) -> Attempt:
        return await self._call("GET", where, None, None, {})

    async def _read(self, route: HttpRoute, path: str) -> VersionRead | Failed:
        """The record the write goes to, by GET of its path, for its version. Its answer is read by the route's
        ``answers.error`` rule, as a lookup's is; a read that fails for good dead-letters the command."""
        call = f"GET {path}"
        outcome = await self._call("GET", path, None, None, {})
        answers = route.answers
        if answers is not None and answers.error is not None:
            outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                            call=f"the precondition's read ({call})")
        if isinstance(outcome, Applied):
            return VersionRead(answer=outcome, call=call)
        if outcome.kind == "transient":
            return outcome
        return Failed(kind="permanent", error_type="VersionUnread", status=outcome.status, answer=outcome.answer,
                      call=f"the precondition's read ({call})",
                      reason=f"the precondition's read ({call}) failed, so the write cannot carry the record's "
                             f"version: {outcome.reason}; the record must exist and be readable at the path the write "
                             "goes to (or read its version from a lookup: precondition.from) before the command is "
                             "replayed")

    async def _upsert(self, command: SinkCommand, route: HttpRoute, path: str, body: Any,
                      looked_up: Mapping[str, Any]) -> Attempt:
        spec = route.external_id
        assert spec is not None

        async def call(method: str, target: str, content: Any) -> Attempt:
            outcome = await self._call(method, target, content, None, {})
            if method == route.method and target == path:  # the create, not the search: its job is polled
                return await self._job(route, outcome, method, target, command)
            return outcome

        async def write(method: str, target: str, content: Any, read: VersionRead | None) -> Attempt:
            outcome = await self._write(route, method, target, content, None, {}, read)
            return await self._job(route, outcome, method, target, command)

        calls = HttpUpsert(route=route, command=command, path=path, body=body, call=call, write=write,
                           system=self.system, base_url=self.base_url, target_file=self.config.path.name,
                           looked_up=looked_up, unsure=self._unsure_creates)
        search = spec.search
        done = await upsert(calls, system=self.system, field=spec.field, value=get_path(command.payload, spec.field),
                            call=f"{route.method} {route.path}", search_call=f"{search.method} {search.path}",
                            updates=spec.update is not None, creates=route.operation not in GONE_OPERATIONS)
        return done if isinstance(done, Failed) else calls.applied(done)

    async def _in_parts(self, command: SinkCommand, route: HttpRoute, path: str, body: dict[str, Any],
                        looked_up: Mapping[str, Any], limit: int) -> Attempt:
        """The route's call with the first part of the lines, then one ``parts`` call per further part (see
        :mod:`streams.sinks.adapters.parts`); a part that fails fails the command, whose retry resends only the
        parts the target has not applied (their keys are answered from its idempotency table)."""
        parts = route.parts
        assert parts is not None
        chunks = split(body[parts.field], limit)
        first = await self._call(route.method, path, {**body, parts.field: chunks[0]}, command.idempotency_key,
                                 route.ids)
        if isinstance(first, Failed):
            return refusal(first, route.refusals) or first
        ids, last = dict(first.ids), first
        for number, chunk in enumerate(chunks[1:], start=2):
            try:
                where = render_path(parts.path, {**command.payload, **ids}, looked_up)
            except UnresolvedReference as missing:
                return Failed(kind="permanent", error_type="UnresolvedReference",
                              reason=f"part {number} of {len(chunks)} ({parts.method} {parts.path}): neither the "
                                     f"first call's answer nor the payload has {{{missing.name}}}; name an id the "
                                     f"answer carries in the route's ids in {self.config.path.name}")
            outcome = await self._call(parts.method, where, {parts.field: chunk},
                                       part_key(command.idempotency_key, number), route.ids)
            if isinstance(outcome, Failed):
                return Failed(kind=outcome.kind, status=outcome.status, answer=outcome.answer,
                              retry_after=outcome.retry_after, error_type=outcome.error_type,
                              timed_out=outcome.timed_out, unsent=outcome.unsent,
                              reason=f"part {number} of {len(chunks)} of {command.entity_key} (the first "
                                     f"{limit * (number - 1)} {parts.field} are applied): {outcome.reason}")
            ids.update(outcome.ids)
            last = outcome
        return Applied(status=first.status, body=last.body, replayed=first.replayed and last.replayed, ids=ids,
                       call=last.call)

    def _batcher(self, route: HttpRoute) -> Batcher:
        assert route.batch is not None
        batcher = self._batchers.get((route.payload_type, route.operation))
        if batcher is None:
            async def single(item: BatchItem) -> Attempt:
                return await self._call(item.method, item.path, item.body, item.key, item.ids)

            batcher = self._batchers[(route.payload_type, route.operation)] = Batcher(
                route.batch, system=self.system, call=self._batch_call, single=single,
                answers=route.answers is not None)
        return batcher

    async def _batch_call(self, method: str, path: str, body: Any) -> tuple[int, Any, float | None] | Failed:
        """One batch call: its status, answer and Retry-After; a transient Failed when nothing answered."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {**self._headers(None), "Content-Type": "application/json"}
        try:
            response = await self._request(method, path, content, headers)
        except httpx.TransportError as exc:
            return self._unanswered(exc, f"{method} {path}")
        except LoginFailed as exc:
            return exc.of_command(self.system)
        return response.status_code, decoded_answer(response), retry_after_of(response)

    async def _request(self, method: str, path: str, content: bytes | None,
                       headers: Mapping[str, str]) -> httpx.Response:
        """One call with the session's token, if any: a call answered 401 is sent once more with a new one (one
        token request for all the calls refused with the same token); a second 401 is the target's answer."""
        if self._session is None:
            return await self._send(method, path, content, headers)
        generation, auth = await self._session.current()
        response = await self._send(method, path, content, {**headers, **auth})
        if response.status_code != 401:
            return response
        log.info("sink %s: %s answered 401 to %s %s: the OAuth2 token is no longer taken; obtaining a new one",
                 self.config.system, self.system, method, path)
        await self._session.expired(generation)
        generation, auth = await self._session.current()
        return await self._send(method, path, content, {**headers, **auth})

    async def _send(self, method: str, path: str, content: bytes | None,
                    headers: Mapping[str, str]) -> httpx.Response:
        """One call, in its turn under the target's rate, its answer (or its timeout) told to the throttle."""
        async with self._slots:
            started = await self.throttle.acquire()
            try:
                response = await self._client.request(method, path, content=content, headers=headers)
            except httpx.TimeoutException as exc:
                if not isinstance(exc, httpx.PoolTimeout):
                    self.throttle.timed_out(started)
                raise
        self.throttle.answered(started, response.status_code, retry_after_of(response))
        return response

    def _unanswered(self, exc: httpx.TransportError, what: str) -> Failed:
        return unanswered(exc, system=self.system, what=what, timeout_s=self.timeout_s,
                          connections=self._slots_total)

    @staticmethod
    def _null_reads(command: SinkCommand, route: HttpRoute) -> list[tuple[str, bool]]:
        """What the route's bodies read, with whether a null is sent there (:func:`http_null_reads`)."""
        return http_null_reads(route, command.payload)

    def _body(self, command: SinkCommand, route: HttpRoute, looked_up: Mapping[str, Any]) -> Any:
        if route.whole_payload:
            return {k: v for k, v in command.payload.items() if v is not None}
        if route.body is None:
            return None
        # an external_id route's own call is its create, which sends the whole record; its update is filtered
        # (HttpUpsert)
        filtered = route.only_changed and route.external_id is None and command.changed_fields
        include = changed_with_lookups(route.lookups, command.changed_fields) if filtered else None
        return render_fields(route.body, command.payload, looked_up, include=include)

    async def _lookups(self, command: SinkCommand, route: HttpRoute) -> dict[str, LookedUp]:
        """The lookups the command needs: those of references its payload leaves null, and the one a precondition
        reads the record's version from (made whatever the payload holds)."""
        wanted = placeholders(route.path) + (spec_references(route.body) if route.body else [])
        if route.external_id is not None:  # its search's and update's references too
            for call in (route.external_id.search, route.external_id.update):
                if call is not None:
                    wanted += placeholders(call.path) + (spec_references(call.body) if call.body else [])
        needed = lookups_needed(wanted, command.payload, route.lookups)
        guard = route.precondition
        if guard is not None and guard.lookup is not None:
            needed.append(guard.lookup)
        found: dict[str, LookedUp] = {}
        for name in dict.fromkeys(needed):
            found[name] = await self._lookup(command, route.lookups[name], route.answers)
        return found

    async def _lookup(self, command: SinkCommand, lookup: LookupSpec, answers: AnswerRules | None) -> LookedUp:
        """The looked-up value, with its answer. The answer is read by the route's ``answers.error`` rule too (an
        API that answers errors with 200 does so for its searches as well): a transient error is retried, a
        permanent one dead-lettered with the target's message; ``answers.success`` is about the route's own call
        only."""
        try:
            path = render_path(lookup.path, command.payload, {})
        except UnresolvedReference as missing:
            raise _Refused(Failed(kind="permanent", error_type="UnresolvedReference",
                                  reason=f"lookup {lookup.name} needs {missing.why()}")) from None
        body = None if lookup.body is None else render_fields(lookup.body, command.payload, {})
        outcome = await self._call(lookup.method, path, body, None, {})
        if answers is not None and answers.error is not None:
            outcome = judge(AnswerRules(error=answers.error), outcome, system=self.system,
                            call=f"lookup {lookup.name} ({lookup.method} {path})")
        if isinstance(outcome, Failed):
            if outcome.kind == "transient":
                raise _Refused(outcome)
            raise _Refused(Failed(kind="permanent", error_type="LookupFailed", status=outcome.status,
                                  answer=outcome.answer, call=f"lookup {lookup.name} ({lookup.method} {path})",
                                  reason=f"lookup {lookup.name} ({lookup.method} {path}) found nothing: "
                                         f"{outcome.reason}; "
                                         "create the entity it looks for first, or send "
                                         f"{lookup.name} in the payload"))
        call = f"{lookup.method} {path}"
        if lookup.match:
            exact = self._matched(command, lookup, call, outcome)
            return LookedUp(exact.record_id, VersionRead(answer=outcome, call=call, record=exact.record))
        value = get_path(outcome.body, lookup.take)
        if value is MISSING or value is None:
            raise _Refused(Failed(kind="permanent", error_type="LookupFailed", status=outcome.status,
                                  answer=outcome.body,
                                  reason=f"lookup {lookup.name} ({call}) answered without {lookup.take}: "
                                         f"{answer_text(outcome.body, 500)}; check the lookup's take field"))
        return LookedUp(value, VersionRead(answer=outcome, call=call))

    def _matched(self, command: SinkCommand, lookup: LookupSpec, call: str, outcome: Applied) -> FoundRecord:
        """The value ``take`` reads from the one item of the answer whose every ``match`` field equals the
        payload's exactly: none is not found, several are ambiguous (never a guess)."""
        def failed(error_type: str, reason: str, not_found: str = "") -> _Refused:
            return _Refused(Failed(kind="permanent", error_type=error_type, status=outcome.status,
                                   answer=outcome.body, reason=f"lookup {lookup.name} ({call}) {reason}",
                                   not_found=not_found and f"lookup {lookup.name} ({call}) {not_found}"))

        try:
            found = found_records(outcome.body, lookup.take)
        except FoundIdPathError as exc:
            raise failed("LookupMisread", f"answered what its take does not fit: {exc}; fix the lookup's take in "
                         f"{self.config.path.name}") from None
        wanted = {item: get_path(command.payload, name) for item, name in lookup.match.items()}
        shown = ", ".join(f"{item} {value!r}" for item, value in wanted.items())
        blind = [f.record for f in found if f.record is None or any(get_path(f.record, item) is MISSING
                                                                     for item in wanted)]
        if blind:
            keys = sorted({str(k) for record in blind if record is not None for k in record})
            raise failed("LookupUnchecked", f"answered {len(blind)} of {len(found)} records without "
                         f"{', '.join(wanted)} (they carry {', '.join(keys) or 'nothing'}), so whether they hold "
                         f"{shown} is unknown; name fields the answer's items carry in the lookup's match in "
                         f"{self.config.path.name}")
        exact = [f for f in found if f.record is not None
                 and all(same_value(get_path(f.record, item), value) for item, value in wanted.items())]
        others = len(found) - len(exact)
        aside = f" ({others} other record{'s' if others != 1 else ''} it answered left aside)" if others else ""
        if not exact:
            paged = paging_hint(outcome.body)
            if paged:  # the record may be on a page the lookup does not read: the same answer every time
                raise failed(LOOKUP_NOT_FOUND, f"found no record with {shown} exactly{aside} on the one page it "
                             f"reads, and the answer names more ({paged}), which a lookup does not follow; make "
                             f"the lookup's path filter by {', '.join(wanted)} exactly (so its record is on the "
                             "first page) in {self.config.path.name}, then replay the dead letter")
            # the record's own command may be applied a moment later (another flow's, a parent's): retried first
            raise _Refused(Failed(
                kind="transient", error_type=LOOKUP_NOT_FOUND, status=outcome.status, answer=outcome.body,
                wait_s=lookup.wait_s, not_found=f"lookup {lookup.name} ({call}) found no record with {shown}",
                reason=f"lookup {lookup.name} ({call}) found no record with {shown} exactly{aside}; retried for up "
                       f"to {lookup.wait_s:g} s (wait_s of lookups.{lookup.name} in {self.config.path.name}) in "
                       "case its create is applied meanwhile (another flow's command, a parent's): create it "
                       f"first, or send {lookup.name} in the payload, then replay the dead letter"))
        if len(exact) > 1:
            raise failed(LOOKUP_AMBIGUOUS, f"found {len(exact)} records with {shown} exactly "
                         f"({[f.record_id for f in exact]}){aside}; the match must name one record: merge them "
                         "in the target or match on more fields, then replay the dead letter")
        if exact[0].record_id is None:
            raise failed("LookupFailed", f"answered the record with {shown} without {lookup.take}: "
                         f"{answer_text(exact[0].record, 500)}; check the lookup's take field")
        return exact[0]

    async def _call(self, method: str, path: str, body: Any, key: str | None,
                    ids: IdPaths | Sequence[str], *, headers: Mapping[str, str] | None = None) -> Attempt:
        """One call; ``headers``: the call's own besides the target's (a precondition's ``If-Match``)."""
        what = f"{method} {path}"
        content = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {**self._headers(key), **(headers or {})}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._request(method, path, content, headers)
        except httpx.TransportError as exc:
            return self._unanswered(exc, what)
        except LoginFailed as exc:
            return exc.of_command(self.system)
        answer = decoded_answer(response)
        kind = classify_status(response.status_code)
        if kind is None:
            replayed = response.headers.get(IDEMPOTENCY_STATUS_HEADER, "").lower() == "replayed"
            return Applied(status=response.status_code, body=answer, replayed=replayed,
                           ids=assigned_ids(answer, ids), call=what, headers=response.headers)
        reason = f"{self.system} answered {response.status_code} to {what}: {answer_text(answer)}"
        if response.status_code == 413:
            reason += f"; {too_large(self.system, len(content or b''))}"
        return Failed(kind=kind, status=response.status_code, answer=answer, retry_after=retry_after_of(response),
                      error_type=f"Http{response.status_code}", call=what, reason=reason)
