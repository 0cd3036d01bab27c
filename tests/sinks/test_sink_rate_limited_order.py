"""Under a rate limit the oldest commands finish first: a real HTTP server on loopback that allows 40 calls a
second (answering 429 with ``Retry-After: 1``), an ``external_id`` route (each command: a search GET, then a
create POST), and the real HTTP adapter, gate and deliverer with 200 commands in flight at once (the sink's
default concurrency is 1,024), their offsets tracked and committed as the worker does.

A new user's sink at that concurrency into an API taking 60 calls a minute queued every command's search before
any create (the throttle let calls go in the order they came): 3 minutes of searches and no POST, no offset
committed in 274 s, and every restart redid the commands applied. Now a call waits in its command's order, so
the create of an older command goes before the searches of newer ones and the committed position moves while
the sink runs. Counted in calls, not timed: the machine may be busy."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from reference.common.server import ThreadedServer
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.offsets import ContiguousOffsets
from streams.sinks.outcomes import Applied
from streams.sinks.records import SinkCommand
from tests.sinks.test_sink_rate_limited_target import RateLimitedApi, guarded_app

pytestmark = pytest.mark.unit

LIMIT = 40
COMMANDS = 200
PARTITION = 0
CONNECTIONS = 32

TARGET = """\
system: ledgerly
adapter: http
routes:
  - payload_type: Invoice
    operation: create
    method: POST
    path: /invoices
    body: {invoice_no: invoice_no, amount: amount}
    external_id:
      field: invoice_no
      search: {path: "/invoices?invoice_no={invoice_no}", found_id: items.*.id}
"""


@dataclass
class Ledger(RateLimitedApi):
    """The rate-limited API's invoices, and every call it let through in order (``GET 17``, ``POST 17``)."""

    invoices: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    posted: Counter[str] = field(default_factory=Counter)


@contextmanager
def ledger_api() -> Iterator[Ledger]:
    api = Ledger(limit=LIMIT)
    app = guarded_app(api, "rate-limited ledger")

    @app.get("/invoices")
    async def search(invoice_no: str) -> JSONResponse:
        with api.lock:
            api.calls.append(("GET", int(invoice_no[4:])))
            found = api.invoices.get(invoice_no)
        return JSONResponse({"items": [] if found is None else [{"id": found, "invoice_no": invoice_no}]})

    @app.post("/invoices")
    async def create(request: Request) -> JSONResponse:
        number = (await request.json())["invoice_no"]
        with api.lock:
            api.calls.append(("POST", int(number[4:])))
            api.posted[number] += 1
            invoice_id = api.invoices.setdefault(number, len(api.invoices) + 1)
        return JSONResponse({"id": invoice_id, "invoice_no": number}, status_code=201)

    with ThreadedServer(app) as server:
        api.url = server.url
        yield api


def invoice(index: int) -> SinkCommand:
    number = f"INV-{index:05d}"
    return SinkCommand(command_id=f"c{index}", idempotency_key=f"key-{index}", target="ledgerly",
                       operation="create", entity_type="Invoice", entity_key=number,
                       payload_type="isthmus.canonical.Invoice", payload={"invoice_no": number, "amount": index})


@dataclass
class Run:
    delivered: list[Delivered]
    api: Ledger
    #: (calls the target had let through, commands committed) at each commit, as the worker commits.
    commits: list[tuple[int, int]]


async def deliver_in_order(adapter: HttpAdapter, api: Ledger) -> tuple[list[Delivered], list[tuple[int, int]]]:
    """Every command delivered at once at its offset's position; the longest finished prefix committed every
    0.1 s (streams/sinks/offsets.py, as the worker's commits)."""
    gate = TargetGate(CircuitBreaker(threshold=5, reset_s=5.0), name="sink ledgerly")
    deliverer = Deliverer(adapter=adapter, gate=gate, policy=RetryPolicy(backoff=Backoff()), config=adapter.config)
    offsets: ContiguousOffsets[int, None] = ContiguousOffsets()
    for offset in range(COMMANDS):
        offsets.track(PARTITION, offset)
    committed = 0
    commits: list[tuple[int, int]] = []

    async def one(offset: int) -> Delivered:
        delivered = await deliverer.deliver(invoice(offset), offset)
        offsets.complete(PARTITION, offset)
        return delivered

    deliveries = asyncio.gather(*(one(offset) for offset in range(COMMANDS)))
    while not deliveries.done():
        await asyncio.wait([deliveries], timeout=0.1)
        ready = offsets.ready().get(PARTITION)
        if ready is not None:
            committed += offsets.confirm(PARTITION, ready.next_offset)
        commits.append((api.let_through, committed))
    return deliveries.result(), commits


def run(tmp_path: Path) -> Run:
    path = tmp_path / "ledgerly.yaml"
    path.write_text(TARGET, encoding="utf-8")
    config = load_target(path, writable=["ledgerly"])

    async def go(api: Ledger) -> tuple[list[Delivered], list[tuple[int, int]]]:
        adapter = HttpAdapter(config, base_url=api.url, timeout_s=10, max_connections=CONNECTIONS, env={})
        try:
            return await asyncio.wait_for(deliver_in_order(adapter, api), timeout=600)
        finally:
            await adapter.close()

    with ledger_api() as api:
        delivered, commits = asyncio.run(go(api))
        return Run(delivered=delivered, api=api, commits=commits)


def test_under_a_rate_limit_the_oldest_commands_finish_first_and_commits_advance(tmp_path: Path) -> None:
    done = run(tmp_path)
    api = done.api
    assert all(isinstance(d.outcome, Applied) for d in done.delivered), [
        d.outcome for d in done.delivered if not isinstance(d.outcome, Applied)][:3]
    # every command applied once: one create each, whatever the searches retried after a 429
    assert len(api.invoices) == COMMANDS and set(api.posted.values()) == {1}, api.posted.most_common(3)
    # creates begin early: the first create right after the first burst of searches (one per connection, before
    # the target's first 429 gives the sink a rate), not after every command's search
    first_post = next(i for i, (method, _) in enumerate(api.calls) if method == "POST")
    assert first_post <= CONNECTIONS + 8, f"the first create was call {first_post + 1}: {api.calls[first_post - 4:]}"
    # the committed position moves while the sink runs: a quarter committed by half the calls the run needs
    halfway = [committed for calls, committed in done.commits if calls <= COMMANDS]
    assert halfway and max(halfway) >= COMMANDS // 4, (
        f"{max(halfway, default=0)} of {COMMANDS} commands committed once the target had taken {COMMANDS} calls "
        f"(of the {2 * COMMANDS} needed); commits: {done.commits[::10]}")
