"""A target that allows 20 calls a second and answers 429 with ``Retry-After: 1``, counting the refused calls
against its limit as real APIs do (the API of a new user's trial): a real HTTP server on loopback, driven by
the real HTTP adapter, gate and deliverer with every command in flight at once (the sink's default concurrency
of 1,024 for 300 commands).

Before the sink paced its calls, each Retry-After ended with every waiting call going out at once, the target
refused nearly all of them, and the refusals kept its window full: a few commands applied per thousands of
429s. Now the first 429 sets the sink's rate to what the target let through and the held calls go out at that
rate, so every command is applied with a few refusals (counted, not timed: the machine may be busy)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from reference.common.server import ThreadedServer
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

LIMIT = 20
COMMANDS = 300
#: A livelocked sink passes this many refusals long before it applies every command; a paced one never does.
GIVE_UP_AT_REFUSED = 3 * COMMANDS

TARGET = """\
system: erp
adapter: http
{limits}routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /accounts
    body: {{crm_customer_number: crm_customer_number, name: name}}
"""


@dataclass
class RateLimitedApi:
    """What the server saw: calls let through, calls refused, the keys it created."""

    limit: int
    let_through: int = 0
    refused: int = 0
    created: set[str] = field(default_factory=set)
    url: str = ""
    _hits: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self) -> bool:
        """A sliding one-second window of ``limit`` calls, refused calls counted in it (fsapi.py's rule)."""
        now = time.monotonic()
        with self.lock:
            while self._hits and now - self._hits[0] > 1.0:
                self._hits.popleft()
            self._hits.append(now)
            if len(self._hits) > self.limit:
                self.refused += 1
                return False
            self.let_through += 1
            return True


def guarded_app(api: RateLimitedApi, title: str) -> FastAPI:
    """An app whose every call over ``api``'s limit is answered 429 with ``Retry-After: 1``."""
    app = FastAPI(title=title)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not api.admit():
            return JSONResponse({"error": "rate limit"}, status_code=429, headers={"Retry-After": "1"})
        return await call_next(request)

    return app


@contextmanager
def rate_limited_api(limit: int = LIMIT) -> Iterator[RateLimitedApi]:
    api = RateLimitedApi(limit=limit)
    app = guarded_app(api, "rate-limited api")

    @app.post("/accounts")
    async def create(request: Request) -> JSONResponse:
        key = request.headers["Idempotency-Key"]
        with api.lock:
            api.created.add(key)
        return JSONResponse({"account_id": len(api.created)}, status_code=201)

    with ThreadedServer(app) as server:
        api.url = server.url
        yield api


def account(index: int) -> SinkCommand:
    number = f"C-{index:06d}"
    return SinkCommand(command_id=f"c{index}", idempotency_key=f"key-{index}", target="erp", operation="create",
                       entity_type="Account", entity_key=number, payload_type="isthmus.canonical.Account",
                       payload={"crm_customer_number": number, "name": f"Customer {index}"})


async def deliver_all(adapter: HttpAdapter, api: RateLimitedApi, commands: int) -> list[Delivered]:
    """Every command delivered at once, as the worker does up to ISTHMUS_SINK_CONCURRENCY (default 1,024), with
    the worker's default retry policy; fails once the target refused GIVE_UP_AT_REFUSED calls."""
    gate = TargetGate(CircuitBreaker(threshold=5, reset_s=5.0), name="sink erp")
    deliverer = Deliverer(adapter=adapter, gate=gate, policy=RetryPolicy(backoff=Backoff()), config=adapter.config)
    deliveries = asyncio.gather(*(deliverer.deliver(account(i)) for i in range(commands)))
    while not deliveries.done():
        if api.refused > GIVE_UP_AT_REFUSED:
            deliveries.cancel()
            with pytest.raises(asyncio.CancelledError):
                await deliveries
            pytest.fail(f"livelock: the target refused {api.refused} calls while {len(api.created)} of {commands} "
                        "commands were applied")
        await asyncio.wait([deliveries], timeout=0.2)
    return deliveries.result()


def run(tmp_path: Path, limits: str, commands: int = COMMANDS) -> tuple[list[Delivered], RateLimitedApi]:
    path = tmp_path / "erp.yaml"
    path.write_text(TARGET.format(limits=limits), encoding="utf-8")
    config = load_target(path)

    async def go(api: RateLimitedApi) -> list[Delivered]:
        adapter = HttpAdapter(config, base_url=api.url, timeout_s=10, max_connections=32, env={})
        try:
            return await asyncio.wait_for(deliver_all(adapter, api, commands), timeout=600)
        finally:
            await adapter.close()

    with rate_limited_api() as api:
        return asyncio.run(go(api)), api


def test_a_sink_with_no_rate_setting_finds_the_targets_rate_and_applies_everything(tmp_path: Path) -> None:
    delivered, api = run(tmp_path, limits="")
    assert all(isinstance(d.outcome, Applied) for d in delivered)
    assert len(api.created) == COMMANDS
    assert api.refused <= COMMANDS // 3, f"{api.refused} calls refused for {COMMANDS} applied"


def test_a_sink_at_the_files_rate_is_not_refused(tmp_path: Path) -> None:
    commands = 100
    delivered, api = run(tmp_path, limits=f"limits: {{requests_per_second: {LIMIT - 2}}}\n", commands=commands)
    assert all(isinstance(d.outcome, Applied) for d in delivered)
    assert len(api.created) == commands
    assert api.refused <= 5, f"{api.refused} calls refused at 18 calls a second to a target that takes 20"
