"""/metrics of a running worker and sink on the real stack: a CRM customer moves their counters."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from support.metrics import parse, value
from support.pipeline import pipeline
from support.ports import free_ports
from support.waiting import eventually

from streams.sinks.settings import metrics_port_offset
from streams.stack.running import RunningStack
from streams.systems import load_systems

FLOW = "isthmus-customers"


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.HTTPError:
        return None
    return parse(answer.text) if answer.status_code == 200 else None


def test_a_customer_moves_the_worker_and_sink_counters(stack: RunningStack, tmp_path: Path) -> None:
    worker_port, sink_port = free_ports(2)
    worker_id = f"metrics-it-{uuid.uuid4().hex[:6]}"
    with pipeline(host=stack.settings.host, logs=tmp_path,
                  worker_env={"ISTHMUS_WORKER_FLOWS": FLOW, "ISTHMUS_WORKER_ID": worker_id,
                              "ISTHMUS_WORKER_PORT": str(worker_port)},
                  # the ERP's sink serves on the set port plus the ERP's place among the writable systems
                  sinks={"erp": {"ISTHMUS_SINK_METRICS_PORT": str(sink_port - metrics_port_offset(
                      "erp", load_systems().writable))}}) as logs:
        before = eventually("the sink's /metrics", lambda: _scrape(sink_port), logs)
        applied_before = value(before, "isthmus_sink_commands_total", target="erp", outcome="applied")
        assert applied_before is not None
        worker_before = eventually("the worker's /metrics", lambda: _scrape(worker_port), logs)
        records_before = value(worker_before, "isthmus_flow_records_total", worker=worker_id, flow=FLOW)
        assert records_before is not None

        with httpx.Client(base_url=stack.settings.crm_api_url, timeout=10) as crm:
            answer = crm.post("/customers", json={"name": "Metrics Probe Ltd"},
                              headers={"Idempotency-Key": str(uuid.uuid4())})
            assert answer.status_code == 201, answer.text
        number = answer.json()["customer_number"]
        with httpx.Client(base_url=stack.settings.erp_api_url, timeout=10) as erp:
            eventually("the ERP account of the new customer",
                       lambda: erp.get(f"/accounts/by-customer/{number}").status_code == 200 or None, logs)

        def moved() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            now = _scrape(sink_port)
            applied = value(now, "isthmus_sink_commands_total", target="erp", outcome="applied") if now else None
            return now if applied is not None and applied > applied_before else None

        sink = eventually("the sink's applied counter to move", moved, logs)
        assert (value(sink, "isthmus_sink_delivery_seconds_count", target="erp") or 0) >= 1
        assert (value(sink, "isthmus_sink_transactions_total", target="erp") or 0) >= 1
        worker = eventually("the worker's /metrics", lambda: _scrape(worker_port), logs)
        records = value(worker, "isthmus_flow_records_total", worker=worker_id, flow=FLOW)
        assert records is not None and records > records_before
        assert (value(worker, "isthmus_flow_emitted_total", worker=worker_id, flow=FLOW) or 0) >= 1
