"""The initial sync's accounting: each flow of a worker process that runs several read apart, every flow's and
sink's stages named, and CPU seconds of process trees."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench import cpu, inside, restart
from streams.metrics.histogram import LabelledHistogram
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit


def _read(*histograms: LabelledHistogram) -> inside.Histograms:
    registry = CollectorRegistry()
    for histogram in histograms:
        registry.register(histogram)
    return inside.read(generate_latest(registry).decode())


def test_a_worker_running_several_flows_is_read_flow_by_flow() -> None:
    waits = LabelledHistogram("isthmus_flow_record_wait_seconds", "w", "flow")
    handler = LabelledHistogram("isthmus_flow_handler_seconds", "h", "flow")
    for _ in range(40):
        waits.observe("isthmus-orders", 2.0)
    for _ in range(10):
        waits.observe("isthmus-canonical", 0.02)
    handler.observe("isthmus-orders", 0.5)
    handler.observe("isthmus-canonical", 0.1)
    workers = {"worker-customers": "isthmus-customers", "worker-others": "isthmus-orders,isthmus-canonical"}
    summary = inside.summary({}, {"worker-others": _read(waits, handler)}, inside.every_stage(workers, ["erp"]))
    orders = summary["isthmus-orders: record waits (CDC record → handler start)"]
    canonical = summary["isthmus-canonical: record waits (CDC record → handler start)"]
    assert (orders["count"], orders["mean_s"]) == (40, pytest.approx(2.0))
    assert (canonical["count"], canonical["mean_s"]) == (10, pytest.approx(0.02))
    assert summary["isthmus-orders: records per batch"]["mean"] == 40.0
    assert not any(stage.startswith("isthmus-customers") for stage in summary), "that worker served nothing"


def test_every_stage_names_each_flow_and_each_sink_in_a_record_s_order() -> None:
    stages = inside.every_stage({"w": "a,b"}, ["erp", "crm"])
    names = [stage for _, _, stage, _ in stages]
    assert names[0] == "a: record waits (CDC record → handler start)"
    assert names[len(inside.FLOW_METRICS)] == "b: record waits (CDC record → handler start)"
    assert names[-1] == "CRM sink: transaction"
    assert {process for process, _, _, _ in stages} == {"w", "sink-erp", "sink-crm"}


def test_cpu_seconds_count_a_process_and_its_children() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\ntime.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        eventually("the child burnt 0.4 s of CPU", lambda: cpu.tree_seconds(child.pid, {}) >= 0.4,
                   timeout=30, every=0.1)
        alone = cpu.tree_seconds(os.getpid(), {})
        with_child = cpu.cpu_seconds({"me": os.getpid()})["me"]
        assert with_child >= alone + 0.3, "the live child's CPU time is counted with its parent's"
    finally:
        child.kill()
        child.wait()
    assert cpu.spent({"a": 1.0}, {"a": 3.5, "b": 4.0}) == {"b": 4.0, "a": 2.5}


def test_a_restarted_worker_s_replays_are_read_from_its_log() -> None:
    log = ("[..] INFO streams.flows.engine.processor: isthmus-customers task 0: store index: 61 changelog records "
           "replayed from the beginning in 0.5s (61 keys)\n"
           "[..] INFO streams.flows.engine.processor: isthmus-customers task 0: store rows: 0 changelog records "
           "replayed from offset 12 in 0.1s (0 keys)\n")
    assert restart.replayed(log) == {"index": 61, "rows": 0}
