"""Apply commands through a JSON-RPC API (``adapter: jsonrpc``): one remote call per command, its params
rendered from the payload by the route's template; session login with re-login on expiry; errors under HTTP
200 read as failures; JSON-RPC 2.0 batch arrays when the target file asks; and, for a route with an
``external_id``, create as "search, then create or update" (see ``streams.sinks.adapters.upsert``), since
such APIs ignore ``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from streams.sinks.adapters.auth import secret_value
from streams.sinks.adapters.builtin import MAX_CONNECTIONS
from streams.sinks.adapters.http import USER_AGENT, decoded_answer
from streams.sinks.adapters.jsonrpc.config import (
    LOGIN_PASSWORD,
    LOGIN_USER,
    RECORD_ID,
    Credential,
    JsonRpcOptions,
    JsonRpcRoute,
    RpcBatchSpec,
)
from streams.sinks.adapters.jsonrpc.envelope import Reply, read_reply, request
from streams.sinks.adapters.jsonrpc.session import LoginFailed, Session
from streams.sinks.adapters.jsonrpc.templates import render
from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.adapters.upsert import Created, Searched, decide, upsert
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import SecretMissing, SinkError, TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed, answer_text, assigned_ids, classify_status, no_route
from streams.sinks.records import SinkCommand

if TYPE_CHECKING:
    from streams.sinks.environment import SinkEnvironment

log = logging.getLogger("isthmus.sink")

#: What one HTTP exchange came to: its status and decoded answer, or a transient Failed (no answer).
Answered = tuple[int, Any] | Failed


class LoginRefused(SinkError):
    """A JSON-RPC target refused the sink's login when the worker started (wrong user or password)."""


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
                          secrets_file=environment.stack.home / "secrets" / "stack.properties")


class JsonRpcAdapter:
    def __init__(self, config: TargetConfig, *, url: str, timeout_s: float, max_connections: int,
                 env: Mapping[str, str], secrets_file: Path | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
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
        self._client = httpx.AsyncClient(
            timeout=timeout_s, transport=transport, follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))
        self._batcher = _ArrayBatcher(self.options.batch, self._post) if self.options.batch else None
        self.session: Session | None = None
        self._password: str | None = None
        login = self.options.login
        if login is not None:
            where = f"{config.path}: jsonrpc.login"
            user = self._credential(login.user, env, secrets_file, f"{where}.user")
            self._password = self._credential(login.password, env, secrets_file, f"{where}.password")
            self.session = Session(login, user=user, login=self._log_in)

    @staticmethod
    def _credential(spec: Credential, env: Mapping[str, str], secrets_file: Path | None, where: str) -> str:
        if spec.constant is not None:
            return spec.constant
        value = secret_value(spec.env, spec.secret, env=env, secrets_file=secrets_file)
        if not value:
            looked = [f"environment variable {spec.env}"] if spec.env else []
            if spec.secret:
                looked.append(f"key {spec.secret} of {secrets_file or 'the stack secrets file'}")
            raise SecretMissing(f"{where}: found no value in {' or '.join(looked)}; fix: set it there")
        return value

    def describe(self) -> str:
        login = f", session login {self.options.login.method}" if self.options.login else ""
        batch = f", batches of up to {self.options.batch.max_items}" if self.options.batch else ""
        return (f"JSON-RPC {self.options.version} {self.url} ({len(self.config.routes)} routes from "
                f"{self.config.path.name}{login}{batch})")

    async def start(self) -> None:
        """Log in once before the first command, so wrong credentials stop the worker at start."""
        if self.session is not None:
            try:
                await self.session.current()
            except LoginFailed as exc:
                raise LoginRefused(f"{self.config.path}: the login to {self.url} failed: {exc.failed.reason}; fix: "
                                   "check the user and password the target file's jsonrpc.login names") from None

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
            response = await self._client.post(self.url, content=content, headers={
                "User-Agent": USER_AGENT, "Content-Type": "application/json", **self.options.headers, **headers})
        except httpx.TransportError as exc:
            what = body.get("method") if isinstance(body, Mapping) else f"a batch of {len(body)} calls"
            if isinstance(exc, httpx.TimeoutException):
                reason = f"{self.system} gave no answer to {what} within {self.timeout_s:g} s"
            else:
                reason = f"{self.system} could not be reached for {what}: {exc or type(exc).__name__}"
            return Failed(kind="transient", error_type=type(exc).__name__, reason=reason)
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
                log.info("sink %s: %s answered %s: the session expired; logging in again", self.system, method,
                         status)
                await self.session.expired(generation)
                continue
            kind = classify_status(status)
            if kind is not None:
                again = " even after a fresh login" if retry and status in expired else ""
                return Failed(kind=kind, status=status, answer=answer, error_type=f"Http{status}",
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
            if route.external_id is not None:
                return await self._upsert(command, route)
            reply = await self.call(route.method, render(route.params, command.payload))
            if isinstance(reply, Failed):
                return reply
            return self._applied(route, reply.result, None, None)
        except LoginFailed as exc:
            return Failed(kind="transient", error_type="LoginFailed", status=exc.failed.status,
                          reason=f"could not log in to {self.system} to apply the command: {exc.failed.reason}")

    def _applied(self, route: JsonRpcRoute, result: Any, record_id: Any, action: str | None) -> Applied:
        body: dict[str, Any] = {"method": route.method, "result": result}
        if record_id is not None:
            body[RECORD_ID] = record_id
        if action is not None:
            body["upsert"] = action
        return Applied(status=200, body=body, ids=assigned_ids(body, route.ids))

    async def _upsert(self, command: SinkCommand, route: JsonRpcRoute) -> Attempt:
        spec = route.external_id
        assert spec is not None
        done = await upsert(_RpcUpsert(self, command, route), system=self.system, field=spec.field,
                            value=get_path(command.payload, spec.field), call=route.method,
                            search_call=spec.search.method, updates=spec.update is not None)
        if isinstance(done, Failed):
            return done
        return self._applied(route, done.answer, done.record_id, done.action)


class _RpcUpsert:
    """The calls of one external-id upsert over JSON-RPC (see ``streams.sinks.adapters.upsert``)."""

    def __init__(self, adapter: JsonRpcAdapter, command: SinkCommand, route: JsonRpcRoute) -> None:
        assert route.external_id is not None
        self.adapter, self.command, self.route, self.spec = adapter, command, route, route.external_id

    async def search(self) -> Searched | Failed:
        reply = await self.adapter.call(self.spec.search.method, render(self.spec.search.params, self.command.payload))
        if isinstance(reply, Failed):
            return reply
        return Searched(decision=decide({"result": reply.result}, self.spec.found), answer=reply.result)

    async def create(self) -> Created | Failed:
        reply = await self.adapter.call(self.route.method, render(self.route.params, self.command.payload))
        if isinstance(reply, Failed):
            return reply
        created = get_path({"result": reply.result}, self.spec.created_id) if self.spec.created_id else None
        return Created(answer=reply.result, record_id=None if created is MISSING else created)

    async def update(self, record_id: Any) -> Any:
        assert self.spec.update is not None
        reply = await self.adapter.call(self.spec.update.method, render(self.spec.update.params, self.command.payload,
                                                                        {RECORD_ID: record_id}))
        return reply if isinstance(reply, Failed) else reply.result

    def is_duplicate(self, failed: Failed) -> bool:
        return self.spec.duplicate_error is not None and self.spec.duplicate_error.search(failed.reason) is not None
