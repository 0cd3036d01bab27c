"""The HTTP adapter holds its calls to ``max_connections`` at once itself: a call waits for a slot before it
reaches httpx, whose connection pool would otherwise queue the rest and walk that queue on every change (the
ERP sink's main CPU cost in the initial sync with 256 commands on 32 connections, issue 17)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import load_target
from streams.stack.settings import PROJECT_ROOT
from tests.sinks.test_sink_http_adapter import account

pytestmark = pytest.mark.unit

ERP = load_target(PROJECT_ROOT / "targets" / "erp.yaml")


def test_no_more_calls_than_connections_reach_the_transport_at_once() -> None:
    at_once = 0
    most = 0

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal at_once, most
            at_once += 1
            most = max(most, at_once)
            await asyncio.sleep(0.01)
            at_once -= 1
            if request.url.path.startswith("/accounts/by-customer/"):
                return httpx.Response(200, json={"account_id": 7})
            return httpx.Response(200, json={"account_id": 7, "account_code": "AC1"})

    async def run() -> list[object]:
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=3, env={},
                              secrets_file=Path("/nonexistent"), transport=Slow())
        try:
            return list(await asyncio.gather(*(adapter.attempt(account("update", name=f"N{i}"))
                                               for i in range(40))))
        finally:
            await adapter.close()

    outcomes = asyncio.run(run())
    assert len(outcomes) == 40 and all(type(o).__name__ == "Applied" for o in outcomes), outcomes[:2]
    assert most == 3, f"{most} calls reached the transport at once; at most max_connections (3) may"
