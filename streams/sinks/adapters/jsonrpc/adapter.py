"""Apply commands through a JSON-RPC API (``adapter: jsonrpc``): one remote call per command (and the route's
``then`` calls after it, each when due), its params rendered from the payload by the route's template; session
login with re-login on expiry; errors under HTTP 200 read as failures; JSON-RPC 2.0 batch arrays when the target
file asks; and, for a call with an ``external_id``, create as "search, then create or update" (see
``streams.sinks.adapters.upsert``), since such APIs ignore ``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from streams.sinks.adapters.auth import credential_value
from streams.sinks.adapters.builtin import MAX_CONNECTIONS, target_throttle
from streams.sinks.adapters.http import USER_AGENT, decoded_answer, retry_after_of, unanswered
from streams.sinks.adapters.jsonrpc.config import (
    LOGIN_PASSWORD,
    LOGIN_USER,
    RECORD,
    RECORD_ID,
    ExternalIdSpec,
    JsonRpcOptions,
    JsonRpcRoute,
    RpcBatchSpec,
    Step,
    Template,
)
from streams.sinks.adapters.jsonrpc.envelope import Reply, read_reply, request
from streams.sinks.adapters.jsonrpc.session import LoginFailed, Session
from streams.sinks.adapters.jsonrpc.steps import call_reads, due, nulls_sent
from streams.sinks.adapters.jsonrpc.templates import render
from streams.sinks.adapters.mapping import MISSING, get_path, unsent_nulls
from streams.sinks.adapters.pool import pooled_transport
from streams.sinks.adapters.session import LoginRefused
from streams.sinks.adapters.upsert import Created, Searched, created_without_id, decide, upsert
from streams.sinks.config.model import GONE_OPERATIONS, TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import (
    Applied,
    Attempt,
    Failed,
    answer_text,
    assigned_ids,
    classify_status,
    no_route,
    null_not_sent,
)
from streams.sinks.records import SinkCommand
from streams.sinks.throttle import RequestThrottle, Slots

if TYPE_CHECKING:
    from streams.sinks.environment import SinkEnvironment

log = logging.getLogger("isthmus.sink")

#: What one HTTP exchange came to: its status and decoded answer, or a transient Failed (no answer).
Answered = tuple[int, Any] | Failed


class _ArrayBatcher:
    """JSON-RPC 2.0 batch arrays: requests submitted within ``linger_ms`` (up to ``max_items``) go out as one
    array; each gets its own reply back by id. A reply array that lacks an item's id sends that item alone."""

    def __init__(self, spec: RpcBatchSpec, post: Any) -> None:
        self.spec = spec
        self._post = post
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[Answered]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0

    async def submit(self, body: dict[str, Any]) -> Answered:
        future: asyncio.Future[Answered] = asyncio.get_running_loop().create_future()
        self._waiting.append((body, future))
        if len(self._waiting) >= self.spec.max_items:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.spec.linger_ms / 1000, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            taken = [(b, f) for b, f in self._waiting[:self.spec.max_items] if not f.done()]
            del self._waiting[:self.spec.max_items]
            if taken:
                task = asyncio.create_task(self._send(taken), name="sink-jsonrpc-batch")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, taken: list[tuple[dict[str, Any], asyncio.Future[Answered]]]) -> None:
        try:
            self.calls += 1
            answered = await self._post([body for body, _ in taken])
            replies: dict[Any, Any] = {}
            if not isinstance(answered, Failed):
                status, answer = answered
                if status == 200 and isinstance(answer, list):
                    replies = {r.get("id"): r for r in answer if isinstance(r, Mapping)}
            for body, future in taken:
                if future.done():
                    continue
                if isinstance(answered, Failed) or answered[0] != 200:
                    future.set_result(answered)  # the whole call failed: every item sees why
                elif body["id"] in replies:
                    future.set_result((200, replies[body["id"]]))
                else:
                    future.set_result(await self._post(body))
        except Exception as exc:  # the waiting calls see it rather than hang
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def build_jsonrpc(config: TargetConfig, environment: SinkEnvironment) -> JsonRpcAdapter:
    """The plugin's factory: the endpoint from ISTHMUS_SINK_BASE_URL, else the file's ``jsonrpc.url``."""
    options = config.options
    url = environment.sink.base_url or (options.url if isinstance(options, JsonRpcOptions) else None)
    if not url:
        raise TargetConfigError(f"{config.path}: no URL for {config.system}'s JSON-RPC endpoint; fix: set jsonrpc.url "
                                "in the target file, or ISTHMUS_SINK_BASE_URL")
    return JsonRpcAdapter(config, url=url, timeout_s=environment.sink.request_timeout_s,
                          max_connections=min(environment.sink.concurrency, MAX_CONNECTIONS), env=environment.env,
                          secrets_file=environment.endpoints.secrets_file,
                          throttle=target_throttle(config, environment))


class JsonRpcAdapter:
    def __init__(self, config: TargetConfig, *, url: str, timeout_s: float, max_connections: int,
                 env: Mapping[str, str], secrets_file: Path | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, throttle: RequestThrottle | None = None) -> None:
        if not isinstance(config.options, JsonRpcOptions):
            raise TargetConfigError(f"{config.path}: a jsonrpc target needs its jsonrpc section checked by the "
                                    "jsonrpc plugin (adapter: jsonrpc); fix: load it with load_target")
        self.config = config
        self.options: JsonRpcOptions = config.options
        self.url = url
        self.timeout_s = timeout_s
        self.system = config.system.upper()
        self._ids = itertools.count(1)
        # Redirects are followed: Tryton answers /<db>/rpc (no slash, as ISTHMUS_SINK_BASE_URL is kept) with a
        # 308 to /<db>/rpc/, which keeps the method and body.
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, limits=limits,
                                         transport=transport or pooled_transport(limits))
        #: Calls wait for a connection here, not in httpcore's pool, as the HTTP adapter's do: a few hundred
        #: commands queued in that pool waited out its timeout (reported as the target giving no answer) and left
        #: connection slots behind (streams/sinks/adapters/pool.py). The oldest command's call is let in first.
        self._slots = Slots(max_connections)
        self._connections = max_connections
        self._batcher = _ArrayBatcher(self.options.batch, self._post) if self.options.batch else None
        #: Every post's turn under the target's rate (the login's and each batch array's too).
        self.throttle = throttle or RequestThrottle.for_target(config.path, config.system,
                                                               config.limits.requests_per_second)
        self.session: Session | None = None
        self._password: str | None = None
        login = self.options.login
        if login is not None:
            where = f"{config.path}: jsonrpc.login"
            user = credential_value(login.user, env=env, secrets_file=secrets_file, where=f"{where}.user")
            self._password = credential_value(login.password, env=env, secrets_file=secrets_file,
                                              where=f"{where}.password")
            self.session = Session(login, user=user, login=self._log_in)

    def describe(self) -> str:
        login = f", session login {self.options.login.method}" if self.options.login else ""
        batch = f", batches of up to {self.options.batch.max_items}" if self.options.batch else ""
        return (f"JSON-RPC {self.options.version} {self.url} ({len(self.config.routes)} routes from "
                f"{self.config.path.name}{login}{batch})")

    async def start(self) -> None:
        """Log in once before the first command, so wrong credentials stop the worker at start."""
        await self.log_in()

    async def log_in(self) -> bool:
        """Log in now (``isthmus sink --check`` too); a refused login raises :class:`LoginRefused`."""
        if self.session is not None:
            try:
                await self.session.current()
                return True
            except LoginFailed as exc:
                raise LoginRefused(f"{self.config.path}: the login to {self.url} failed: {exc.failed.reason}; fix: "
                                   "check the user and password the target file's jsonrpc.login names") from None
        return False

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
        await self._client.aclose()

    # transport

    async def _post(self, body: Any, headers: Mapping[str, str] | None = None) -> Answered:
        if headers is None:
            headers = (await self.session.current())[1] if self.session is not None else {}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        try:
            async with self._slots:
                started = await self.throttle.acquire()
                try:
                    response = await self._client.post(self.url, content=content, headers={
                        "User-Agent": USER_AGENT, "Content-Type": "application/json", **self.options.headers,
                        **headers})
                except httpx.TimeoutException as exc:
                    if not isinstance(exc, httpx.PoolTimeout):
                        self.throttle.timed_out(started)
                    raise
            self.throttle.answered(started, response.status_code, retry_after_of(response))
        except httpx.TransportError as exc:
            what = body.get("method") if isinstance(body, Mapping) else f"a batch of {len(body)} calls"
            return unanswered(exc, system=self.system, what=str(what), timeout_s=self.timeout_s,
                              connections=self._connections)
        return response.status_code, decoded_answer(response)

    async def _log_in(self) -> Any:
        login = self.options.login
        assert login is not None and self.session is not None
        params = render(login.params, {}, {LOGIN_USER: self.session.user, LOGIN_PASSWORD: self._password})
        answered = await self._post(request(self.options.version, next(self._ids), login.method, params), {})
        if isinstance(answered, Failed):
            return answered
        status, answer = answered
        if status != 200:
            return Failed(kind="transient" if classify_status(status) == "transient" else "permanent",
                          status=status, error_type="LoginFailed",
                          reason=f"{self.system} refused the login ({login.method}) with {status}")
        reply = read_reply(answer, system=self.system, method=login.method, transient_names=())
        return reply.result if isinstance(reply, Reply) else reply

    async def call(self, method: str, params: Any) -> Reply | Failed:
        """One remote call: logged in (again once, if the session expired), its reply read."""
        expired = self.options.login.expired_statuses if self.options.login else ()
        for retry in (False, True):
            generation, headers = (await self.session.current()) if self.session is not None else (0, {})
            body = request(self.options.version, next(self._ids), method, params)
            answered = await (self._batcher.submit(body) if self._batcher is not None else self._post(body, headers))
            if isinstance(answered, Failed):
                return answered
            status, answer = answered
            if status in expired and self.session is not None and not retry:
                log.info("sink %s: %s answered %s: the session expired; logging in again", self.system.lower(), method,
                         status)
                await self.session.expired(generation)
                continue
            kind = classify_status(status)
            if kind is not None:
                again = " even after a fresh login" if retry and status in expired else ""
                return Failed(kind=kind, status=status, answer=answer, error_type=f"Http{status}", call=method,
                              reason=f"{self.system} answered {status} to {method}{again}: {answer_text(answer)}")
            return read_reply(answer, system=self.system, method=method,
                              transient_names=self.options.transient_errors)
        raise AssertionError("unreachable")

    # commands

    async def attempt(self, command: SinkCommand) -> Attempt:
        route = self.config.route(command.payload_type, command.operation)
        if not isinstance(route, JsonRpcRoute):
            return no_route(self.config.path.name, command.payload_type, command.operation,
                            "payload_type, operation, method, params")
        try:
            return await self._route(command, route)
        except LoginFailed as exc:
            return exc.of_command(self.system)

    async def _route(self, command: SinkCommand, route: JsonRpcRoute) -> Attempt:
        """The route's call, then its ``then`` calls in order, each only when due. A failure stops the route:
        a retry makes every call again, so each must be safe to repeat (a write of values, an upsert). A field the
        command clears that a call reads but cannot send as null fails it before any call."""
        unsent = unsent_nulls(command.payload, command.changed_fields,
                              [*call_reads(route), *(read for step in route.then for read in call_reads(step))])
        if unsent:
            return null_not_sent(unsent, route.payload_type, route.operation, f"{self.config.path.name}:{route.line}",
                                 "in the params of the call that writes it")
        first = _Done()
        if due(route.writes, command.payload, command.changed_fields, nulls_sent(route)):
            made = await self._call_unit(route, command.payload, {},
                                         creates=route.operation not in GONE_OPERATIONS)
            if isinstance(made, Failed):
                return made
            first = made
        refs = {} if first.record_id is None else {RECORD: first.record_id}
        results: list[Any] = []
        for index, step in enumerate(route.then):
            if not due(step.writes, command.payload, command.changed_fields, nulls_sent(step)):
                results.append(None)
                continue
            made = await self._call_unit(step, command.payload, refs)
            if isinstance(made, Failed):
                return replace(made, reason=f"{made.reason} (then[{index}] of the route for {route.payload_type} "
                                            f"{route.operation}, line {step.line}; a retry makes its calls again)")
            results.append(made.result)
        body: dict[str, Any] = {"method": route.method, "result": first.result}
        if first.record_id is not None:
            body[RECORD_ID] = first.record_id
        if first.action is not None:
            body["upsert"] = first.action
        if route.then:
            body["then"] = results
        return Applied(status=200, body=body, ids=assigned_ids(body, route.ids))

    async def _call_unit(self, unit: JsonRpcRoute | Step, payload: Mapping[str, Any],
                         refs: Mapping[str, Any], *, creates: bool = True) -> _Done | Failed:
        """One call of a route (its own or a ``then`` one): an upsert when it has an external id (that creates no
        record unless ``creates``: a deactivate's or cancel's own call finds its record gone instead)."""
        if unit.external_id is not None:
            return await self._upsert(unit.method, unit.params, unit.external_id, payload, refs, creates=creates)
        reply = await self.call(unit.method, render(unit.params, payload, refs))
        return reply if isinstance(reply, Failed) else _Done(result=reply.result)

    async def _upsert(self, method: str, params: Template, spec: ExternalIdSpec, payload: Mapping[str, Any],
                      refs: Mapping[str, Any], *, creates: bool) -> _Done | Failed:
        done = await upsert(_RpcUpsert(self, method, params, spec, payload, refs), system=self.system,
                            field=spec.field, value=get_path(payload, spec.field), call=method,
                            search_call=spec.search.method, updates=spec.update is not None, creates=creates)
        if isinstance(done, Failed):
            return done
        return _Done(result=done.answer, record_id=done.record_id, action=done.action)


class _RpcUpsert:
    """The calls of one external-id upsert over JSON-RPC (see ``streams.sinks.adapters.upsert``): a route's own
    call or one of its ``then`` calls, whose params may read ``refs`` (``$record``) besides the payload."""

    def __init__(self, adapter: JsonRpcAdapter, method: str, params: Template, spec: ExternalIdSpec,
                 payload: Mapping[str, Any], refs: Mapping[str, Any]) -> None:
        self.adapter, self.method, self.params, self.spec = adapter, method, params, spec
        self.payload, self.refs = payload, refs

    async def search(self) -> Searched | Failed:
        reply = await self.adapter.call(self.spec.search.method,
                                        render(self.spec.search.params, self.payload, self.refs))
        if isinstance(reply, Failed):
            return reply
        return Searched(decision=decide({"result": reply.result}, self.spec.found), answer=reply.result)

    async def create(self) -> Created | Failed:
        reply = await self.adapter.call(self.method, render(self.params, self.payload, self.refs))
        if isinstance(reply, Failed):
            return reply
        if self.spec.created_id is None:
            return Created(answer=reply.result)
        created = get_path({"result": reply.result}, self.spec.created_id)
        if created is MISSING or created is None or created == "":
            return created_without_id(system=self.adapter.system, status=None, call=self.method,
                                      created_id=self.spec.created_id, answer={"result": reply.result},
                                      where=f"the external_id of {self.method}")
        return Created(answer=reply.result, record_id=created)

    async def update(self, record_id: Any) -> Any:
        assert self.spec.update is not None
        reply = await self.adapter.call(self.spec.update.method, render(self.spec.update.params, self.payload,
                                                                        {**self.refs, RECORD_ID: record_id}))
        return reply if isinstance(reply, Failed) else reply.result

    def is_duplicate(self, failed: Failed) -> bool:
        return self.spec.duplicate_error is not None and self.spec.duplicate_error.search(failed.reason) is not None


@dataclass(frozen=True, kw_only=True)
class _Done:
    """What one call of a route came to: its result, the record its external id found or made, and what the
    upsert did."""

    result: Any = None
    record_id: Any = None
    action: str | None = None
