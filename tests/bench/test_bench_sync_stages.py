"""The initial sync's accounting: each flow of a worker process that runs several read apart, every flow's and
sink's stages named, and CPU seconds of process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench import cpu, inside, latency, restart
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


def test_cpu_a_change_names_the_idle_load_the_marginal_cost_the_ceiling_and_each_part() -> None:
    # 12,000 changes in 60 s; Kafka idles at 0.1 CPU-s a second (6 of its 10 s), the others not at all
    used = {"worker-customers": 20.0, "stack kafka": 10.0, "sink-erp": 6.0}
    per = cpu.per_change(used, 12_000, cores=2, seconds=60.0, idle={"stack kafka": 0.1})
    assert per["total_ms"] == 3.0 and per["idle_cores"] == 0.1
    assert per["marginal_ms"] == 2.5, "36 CPU-s less Kafka's 6 idle ones, over 12,000 changes"
    assert per["worker-customers"] == pytest.approx(1.667, abs=1e-3) and per["stack kafka"] == pytest.approx(0.333,
                                                                                                               abs=1e-3)
    assert per["ceiling_per_s"] == 760, "1.9 cores left over from idling, at 2.5 ms a change"
    assert list(per)[5:] == ["worker-customers", "sink-erp", "stack kafka"], "the parts, costliest first"
    assert cpu.per_change(used, 12_000, cores=2, seconds=60.0)["ceiling_per_s"] == 667
    assert cpu.per_change(used, 0, cores=2, seconds=60.0) == {} and cpu.per_change({}, 10, cores=2, seconds=1) == {}
    words = latency.describe_cpu(per)
    assert "3.00 ms a change" in words and "0.10 of 2 cores" in words and "2.50 ms more" in words
    assert "~760 changes/s" in words and "stack kafka 0.33" in words and "idle_cores" not in words
    assert latency.describe_cpu({}) == "not measured"


def test_idle_rates_are_cpu_seconds_a_second() -> None:
    """A process that never sleeps uses at most one CPU-second a second (less on a loaded machine: the bound
    below holds with two other busy processes on two cores), one that sleeps almost none."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)  # past the interpreters' start
        rates = cpu.idle_rates({"busy": busy.pid, "idle": idle.pid}, 1.0)
    finally:
        for child in (busy, idle):
            child.kill()
            child.wait()
    assert 0.1 < rates["busy"] <= 1.05, f"a busy process uses up to 1 CPU-s a second, not {rates}"
    assert rates["idle"] < 0.05, f"a sleeping process uses ~0 CPU-s a second, not {rates}"


def test_a_restarted_worker_s_replays_are_read_from_its_log() -> None:
    log = ("[..] INFO streams.flows.engine.processor: isthmus-customers task 0: store index: 61 changelog records "
           "replayed from the beginning in 0.5s (61 keys)\n"
           "[..] INFO streams.flows.engine.processor: isthmus-customers task 0: store rows: 0 changelog records "
           "replayed from offset 12 in 0.1s (0 keys)\n")
    assert restart.replayed(log) == {"index": 61, "rows": 0}
