"""The worker's endpoints: the flows left out, and why, never counted against readiness; a flow that cannot go on
named on /health; a taken port named."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.metrics import parse, scrape, value

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.sizes import RefusedAsTooLarge
from streams.metrics.exceptions import MetricsPortUnavailable
from streams.metrics.holders import listener_of
from streams.worker.metrics import worker_registry
from streams.worker.web import build_app, start_endpoints

LEFT_OUT = {"isthmus-stock": "the stock flow needs mappings/product_availability.yaml; add ..."}


def test_health_ready_and_metrics_list_the_flows_left_out() -> None:
    async def scenario() -> tuple[dict[str, Any], int, dict[str, Any]]:
        async with TestClient(TestServer(build_app("w-1", [], LEFT_OUT))) as client:
            health = await (await client.get("/health")).json()
            ready = await client.get("/ready")
            return health, ready.status, await ready.json()

    health, status, ready = asyncio.run(scenario())
    assert health == {"status": "ok", "worker": "w-1", "failing": {}, "kafka": None, "unavailable": LEFT_OUT}
    assert status == 200 and ready["unavailable"] == LEFT_OUT
    samples = parse(scrape(worker_registry("w-1", [], LEFT_OUT)))
    assert value(samples, "isthmus_flow_unavailable", worker="w-1", flow="isthmus-stock") == 1


def test_a_flow_that_cannot_go_on_makes_health_fail_naming_it_and_why() -> None:
    """Kafka refuses a record the flow writes as too large, whichever retry: /health is 503 with the flow and the
    refusal (topic, size, fix), not ``ok`` while the flow restarts from the same commit for ever."""
    stuck, going = (FlowProcessor(FlowSpec(name=name, inputs=("in",), handler=lambda record, ctx: None),
                                  EngineSettings(bootstrap_servers="127.0.0.1:9"), SchemaStore.from_directory())
                    for name in ("billing", "stock"))
    stuck.failing = RefusedAsTooLarge(flow="billing", task=0, topic="billing.out", partition=0, size=1_500_000,
                                      limit=16 << 20, retry_s=2.0)

    async def scenario() -> tuple[int, dict[str, Any]]:
        async with TestClient(TestServer(build_app("w-1", [stuck, going], {}))) as client:
            health = await client.get("/health")
            return health.status, await health.json()

    status, health = asyncio.run(scenario())
    assert status == 503 and health["status"] == "failing"
    assert health["failing"] == {"billing": str(stuck.failing)}
    assert "billing.out" in health["failing"]["billing"] and "1500000 bytes" in health["failing"]["billing"]
    samples = parse(scrape(worker_registry("w-1", [stuck, going], {})))
    assert value(samples, "isthmus_flow_failing", worker="w-1", flow="billing") == 1
    assert value(samples, "isthmus_flow_failing", worker="w-1", flow="stock") == 0


def test_a_taken_port_names_the_variable_the_port_and_the_process_holding_it() -> None:
    """The worker's endpoints on a port another process listens on fail as the sink's /metrics does, not with
    aiohttp's traceback: the variable, the port, who holds it (this test) and the fix."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortUnavailable) as caught:
            asyncio.run(start_endpoints(build_app("w-1", [], {}), host="127.0.0.1", port=port))
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text and "/health" in text
    assert f"held by pid {os.getpid()} (" in text
    assert text.endswith("set ISTHMUS_WORKER_PORT to a free port, or 0 to pick one")


def test_a_free_port_is_served_and_reported() -> None:
    async def scenario() -> int:
        runner, bound = await start_endpoints(build_app("w-1", [], {}), host="127.0.0.1", port=0)
        await runner.cleanup()
        return bound

    assert asyncio.run(scenario()) > 0


def test_the_holder_of_a_port_is_unknown_without_proc(tmp_path: Path) -> None:
    assert listener_of(9, proc=tmp_path) is None
