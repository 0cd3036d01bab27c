"""The worker's endpoints name the flows it left out, and why, without counting them against readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from support.metrics import parse, scrape, value

from streams.worker.metrics import worker_registry
from streams.worker.web import build_app

LEFT_OUT = {"isthmus-stock": "the stock flow needs mappings/product_availability.yaml; add ..."}


def test_health_ready_and_metrics_list_the_flows_left_out() -> None:
    async def scenario() -> tuple[dict[str, Any], int, dict[str, Any]]:
        async with TestClient(TestServer(build_app("w-1", [], LEFT_OUT))) as client:
            health = await (await client.get("/health")).json()
            ready = await client.get("/ready")
            return health, ready.status, await ready.json()

    health, status, ready = asyncio.run(scenario())
    assert health == {"status": "ok", "worker": "w-1", "unavailable": LEFT_OUT}
    assert status == 200 and ready["unavailable"] == LEFT_OUT
    samples = parse(scrape(worker_registry("w-1", [], LEFT_OUT)))
    assert value(samples, "isthmus_flow_unavailable", worker="w-1", flow="isthmus-stock") == 1
