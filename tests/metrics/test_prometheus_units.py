"""Every process's /metrics without services: prometheus_client writes the exposition (label values escaped),
each process has a registry of its own, latency buckets tell 50 ms from 500 ms, and the ports are settings."""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from support.metrics import parse, scrape, types, value

from streams.codecs.avro.single_object import SchemaStore
from streams.dashboard.latency import LatencyTail
from streams.dashboard.metrics import dashboard_registry
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.metrics.exceptions import MetricsPortUnavailable
from streams.metrics.histogram import LATENCY_BUCKETS, LabelledHistogram
from streams.metrics.serving import serve_metrics
from streams.sinks.exceptions import SinkSettingsError
from streams.sinks.metrics import sink_registry
from streams.sinks.outcomes import Failed
from streams.sinks.runner import SinkEnvironment, build_worker
from streams.sinks.settings import DEFAULT_METRICS_PORT, SinkSettings
from streams.stack.settings import PROJECT_ROOT
from streams.warehouse.exceptions import WarehouseSettingsError
from streams.warehouse.settings import DEFAULT_METRICS_PORT as WAREHOUSE_PORT
from streams.warehouse.settings import WarehouseSettings
from streams.worker.metrics import worker_registry

#: A label value a hand-written exposition breaks: a quote, a backslash and a newline.
AWKWARD = 'say "hi"\\now\nnext line'
STORE = SchemaStore.from_directory()


def test_no_hand_written_exposition_is_left_in_streams() -> None:
    """Only prometheus_client writes Prometheus text: no HELP/TYPE line or bucket sample is spelled out."""
    spelled = re.compile(r'# (HELP|TYPE) |_bucket\{|[{,]le="')
    found = [f"{path.relative_to(PROJECT_ROOT)}:{n}" for path in sorted((PROJECT_ROOT / "streams").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if spelled.search(line)]
    assert not found, f"hand-written Prometheus text; use a prometheus_client metric family instead: {found}"


def _processor(name: str) -> FlowProcessor:
    async def ignore(*_: object) -> None:
        return None

    return FlowProcessor(FlowSpec(name=name, inputs=("in",), handler=ignore),
                         EngineSettings(bootstrap_servers="127.0.0.1:9"), STORE)


def test_worker_metrics_escape_label_values_and_parse_back() -> None:
    processor = _processor(AWKWARD)
    processor.processed, processor.processing_seconds = 12, 0.25
    processor.events[AWKWARD] = 3
    text = scrape(worker_registry("w-1", [processor], {"isthmus-stock": "no mapping"}))
    assert 'say \\"hi\\"\\\\now\\nnext line' in text, "quotes, backslashes and newlines escaped"
    samples = parse(text)
    assert value(samples, "isthmus_flow_records_total", worker="w-1", flow=AWKWARD) == 12
    assert value(samples, "isthmus_flow_processing_seconds_total", worker="w-1", flow=AWKWARD) == 0.25
    assert value(samples, "isthmus_flow_events_total", worker="w-1", flow=AWKWARD, event=AWKWARD) == 3
    assert value(samples, "isthmus_flow_unavailable", worker="w-1", flow="isthmus-stock") == 1
    assert types(text)["isthmus_flow_records"] == "counter"
    assert types(text)["isthmus_flow_tasks"] == "gauge"


def test_each_registry_is_its_own() -> None:
    """Two workers in one process (as in a test) do not see each other's flows."""
    one, two = worker_registry("w-1", [_processor("a")], {}), worker_registry("w-2", [_processor("b")], {})
    assert value(parse(scrape(one)), "isthmus_flow_records_total", worker="w-1", flow="a") == 0
    assert value(parse(scrape(two)), "isthmus_flow_records_total", worker="w-1", flow="a") is None


def test_latency_histogram_escapes_its_target_and_tells_50_ms_from_500_ms() -> None:
    tail = LatencyTail(bootstrap="127.0.0.1:9", store=STORE)
    tail.join.targets = ("fast", AWKWARD)
    commit = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for n, (target, seconds) in enumerate([("fast", 0.05)] * 3 + [(AWKWARD, 0.5)] * 3):
        tail.join.command({"command_id": f"c{n}", "source": {"commit_time": commit}})
        tail.join.result({"command_id": f"c{n}", "target": target, "applied_at": commit + timedelta(seconds=seconds)})
    tail.conflicts[("Customer", AWKWARD, "crm")] = 2
    snapshot = {"connectors": [], "lag": [], "groups": [], "topics": [], "dlq_topic": "isthmus.dlq",
                "dead_letter_count": 0}
    text = scrape(dashboard_registry(lambda: snapshot, lambda: tail))
    samples = parse(text)
    assert types(text)["isthmus_end_to_end_latency_seconds"] == "histogram"
    assert value(samples, "isthmus_end_to_end_latency_seconds_bucket", target="fast", le="0.05") == 3
    assert value(samples, "isthmus_end_to_end_latency_seconds_bucket", target=AWKWARD, le="0.3") == 0
    assert value(samples, "isthmus_end_to_end_latency_seconds_bucket", target=AWKWARD, le="0.5") == 3
    assert value(samples, "isthmus_end_to_end_latency_seconds_count", target=AWKWARD) == 3
    assert value(samples, "isthmus_conflicts_total", entity="Customer", field=AWKWARD, winner="crm") == 2
    summary = {row["target"]: row for row in tail.join.summary()}
    assert summary["fast"]["p50_s"] == 0.05 and summary[AWKWARD]["p95_s"] == 0.5


def test_latency_buckets_are_fine_below_a_second_and_reach_minutes() -> None:
    histogram = LabelledHistogram("lat_seconds", "h", "target")
    for observed, expected in ((0.04, 0.05), (0.45, 0.5), (0.09, 0.1), (0.9, 1.0), (170.0, 300.0)):
        histogram.observe(str(observed), observed)
        assert histogram.quantile(str(observed), 0.5) == expected
    assert len([b for b in LATENCY_BUCKETS if 0.05 <= b <= 0.5]) >= 5
    assert LATENCY_BUCKETS[-1] >= 300


#: A sink built offline: no broker is reached, the ERP's API URL only names one (the stack would offer both).
SINK_ENV = {"ISTHMUS_SINK_METRICS_PORT": "0", "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "ISTHMUS_ENDPOINTS_API_URLS": json.dumps({"erp": "http://127.0.0.1:9"})}


def test_sink_metrics_count_outcomes_and_the_breaker_state() -> None:
    worker = build_worker("erp", SinkEnvironment.from_env({**os.environ, **SINK_ENV}), STORE)
    worker.stats.applied, worker.stats.dead_lettered, worker.deliverer.retries = 5, 1, 7
    worker.delivery_seconds.observe("erp", 0.2)
    worker.deliverer.ids_not_found = 3
    worker.deliverer.created_by_changes = 2
    worker.deliverer.jobs_timed_out = 4
    worker.deliverer.error_shaped = 4
    worker.deliverer.credentials.observe(Failed(kind="transient", status=401, reason="ERP answered 401"))
    registry = sink_registry(worker)
    text = scrape(registry)
    samples = parse(text)
    assert value(samples, "isthmus_sink_commands_total", target="erp", outcome="applied") == 5
    assert value(samples, "isthmus_sink_commands_total", target="erp", outcome="dead_lettered") == 1
    assert value(samples, "isthmus_sink_call_retries_total", target="erp") == 7
    assert value(samples, "isthmus_sink_breaker_state", target="erp", state="closed") == 1
    assert value(samples, "isthmus_sink_breaker_state", target="erp", state="open") == 0
    assert value(samples, "isthmus_sink_held_commands", target="erp", by="breaker") == 0
    worker.gate.held["breaker"] = 3
    assert value(parse(scrape(registry)), "isthmus_sink_held_commands", target="erp", by="breaker") == 3
    assert "breaker closed (3 held by it)" in worker._summary_text() and worker.snapshot()["retries"] == 7
    worker.gate.held["breaker"] = 0
    assert value(samples, "isthmus_sink_credentials_refused", target="erp") == 1
    assert value(samples, "isthmus_sink_credential_refusals_total", target="erp") == 1
    assert value(samples, "isthmus_sink_ids_not_found_total", target="erp") == 3
    assert value(samples, "isthmus_sink_created_by_changes_total", target="erp") == 2
    assert value(samples, "isthmus_sink_error_shaped_total", target="erp") == 4
    assert worker.snapshot()["created_by_changes"] == 2
    assert value(samples, "isthmus_sink_jobs_timed_out_total", target="erp") == 4
    assert worker.snapshot()["jobs_timed_out"] == 4
    assert worker.snapshot()["credentials"] == "refused" and "credentials refused" in worker._summary_text()
    assert value(samples, "isthmus_sink_delivery_seconds_bucket", target="erp", le="0.2") == 1
    assert types(text)["isthmus_sink_delivery_seconds"] == "histogram"


def test_sink_metrics_show_the_rate_the_sink_allows_itself_and_the_throttling_answers() -> None:
    worker = build_worker("erp", SinkEnvironment.from_env({**os.environ, **SINK_ENV}), STORE)
    throttle = worker.throttle
    assert throttle is not None and throttle.retry_after_max_s == 300
    registry = sink_registry(worker)
    samples = parse(scrape(registry))
    assert value(samples, "isthmus_sink_rate_limit", target="erp") == 0
    assert value(samples, "isthmus_sink_throttled_total", target="erp", status="429") == 0
    assert "throttled" not in worker._summary_text()
    for _ in range(20):
        throttle.control.sending(throttle.clock())
        throttle.answered(throttle.clock(), 201, None)
    throttle.answered(throttle.clock(), 429, 1.0)
    throttle.answered(throttle.clock(), 503, 1.0)
    samples = parse(scrape(registry))
    assert value(samples, "isthmus_sink_rate_limit", target="erp") == pytest.approx(14.0)
    assert value(samples, "isthmus_sink_throttled_total", target="erp", status="429") == 1
    assert value(samples, "isthmus_sink_throttled_total", target="erp", status="503") == 1
    assert value(samples, "isthmus_sink_rate_waiting", target="erp") == 0
    assert "; at most 14.0 calls/s (throttled: 1 answer 429, 1 answer 503)" in worker._summary_text()
    assert worker.snapshot()["rate_limit"] == pytest.approx(14.0)
    assert worker.snapshot()["throttled"] == {"429": 1, "503": 1}


def test_sink_metrics_ports_differ_per_system_by_default() -> None:
    settings = SinkSettings.from_env({})
    writable = ("crm", "erp")
    assert settings.for_system("crm", writable=writable).metrics_port == DEFAULT_METRICS_PORT == 18091
    assert settings.for_system("erp", writable=writable).metrics_port == 18092
    free = SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "0"})
    assert free.for_system("erp", writable=writable).metrics_port == 0
    with pytest.raises(SinkSettingsError, match=r"ISTHMUS_SINK_METRICS_PORT: 'http' is not a port \(0-65535"):
        SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "http"})


def test_a_set_sink_metrics_port_is_the_first_writable_systems_and_the_next_ones_follow() -> None:
    """One environment for every sink of a host (``isthmus demo``, a shell with ISTHMUS_SINK_METRICS_PORT
    exported) gives each sink its own port, as the default does."""
    writable = ("crm", "erp")
    settings = SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "34091"})
    assert [settings.for_system(s, writable=writable).metrics_port for s in writable] == [34091, 34092]
    last = SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "65535"})
    assert last.for_system("crm", writable=writable).metrics_port == 65535
    with pytest.raises(SinkSettingsError, match=r"ISTHMUS_SINK_METRICS_PORT=65535 gives sink erp .* port 65536, "
                                                r"above 65535; set it to at most 65534"):
        last.for_system("erp", writable=writable)


def test_warehouse_metrics_port_is_a_setting() -> None:
    assert WarehouseSettings.from_env({}).metrics_port == WAREHOUSE_PORT == 18089
    assert WarehouseSettings.from_env({"ISTHMUS_WAREHOUSE_METRICS_PORT": "0"}).metrics_port == 0
    with pytest.raises(WarehouseSettingsError, match=r"ISTHMUS_WAREHOUSE_METRICS_PORT: '99999' is not a port"):
        WarehouseSettings.from_env({"ISTHMUS_WAREHOUSE_METRICS_PORT": "99999"})


def test_a_served_registry_answers_and_a_taken_port_is_named() -> None:
    registry = CollectorRegistry()
    registry.register(LabelledHistogram("probe_seconds", "h", "target"))
    server = serve_metrics(registry, host="127.0.0.1", port=0, setting="ISTHMUS_PROBE_PORT")
    try:
        answer = httpx.get(server.url, timeout=5)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert types(answer.text)["probe_seconds"] == "histogram"
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(MetricsPortUnavailable, match="set ISTHMUS_PROBE_PORT to a free port"):
                serve_metrics(registry, host="127.0.0.1", port=taken.getsockname()[1], setting="ISTHMUS_PROBE_PORT")
    finally:
        server.close()


def test_readme_documents_every_metric() -> None:
    """Each metric family a process exposes is named in README.md's "Metrics" part."""
    from streams.warehouse.loader import Loader
    from streams.warehouse.metrics import loader_registry

    loader = Loader(WarehouseSettings.from_env({}), "127.0.0.1:9", STORE)
    sink = build_worker("erp", SinkEnvironment.from_env({**os.environ, **SINK_ENV}), STORE)
    tail = LatencyTail(bootstrap="127.0.0.1:9", store=STORE)
    snapshot = {"connectors": [], "lag": [], "groups": [], "topics": [], "dlq_topic": "isthmus.dlq",
                "dead_letter_count": 0}
    registries = [worker_registry("w", [_processor("f")], {}), sink_registry(sink), loader_registry(loader),
                  dashboard_registry(lambda: snapshot, lambda: tail)]
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    metrics_part = readme[readme.index("## Metrics"):]
    metrics_part = metrics_part[:metrics_part.index("\n## ")]
    exposed = set()
    for registry in registries:
        for family_type_name, kind in types(scrape(registry)).items():
            exposed.add(f"{family_type_name}_total" if kind == "counter" else family_type_name)
    missing = sorted(name for name in exposed if f"`{name}`" not in metrics_part)
    assert len(exposed) >= 30 and not missing, f"document these in README.md, Metrics: {missing}"
