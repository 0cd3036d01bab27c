"""Dashboard logic without services: rates, Prometheus text, port setting, tokens, and roles on the API."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from prometheus_client import CollectorRegistry
from support.metrics import parse, scrape, types, value

from streams.dashboard.access import COOKIE, LOCAL, caller_of, token_of
from streams.dashboard.app import DashboardConfig, build_app
from streams.dashboard.exceptions import BadDashboardPort
from streams.dashboard.latency import LatencyJoin
from streams.dashboard.metrics import dashboard_registry
from streams.dashboard.rates import RateTracker
from streams.dashboard.settings import DEFAULT_PORT, dashboard_address, dashboard_port
from streams.inspect.exceptions import AccessDenied
from streams.inspect.roles import AccessPolicy, Role
from streams.metrics.histogram import LabelledHistogram

POLICY = AccessPolicy(tokens=MappingProxyType({"v-tok": Role.VIEWER, "o-tok": Role.OPERATOR, "a-tok": Role.ADMIN}),
                      source="test")


def test_rates_are_per_second_since_the_last_sample_and_never_negative() -> None:
    tracker = RateTracker()
    assert tracker.update(10.0, {"a": 100}) == {"a": 0.0}
    assert tracker.update(12.0, {"a": 110, "b": 5}) == {"a": 5.0, "b": 0.0}
    assert tracker.update(14.0, {"a": 3, "b": 9}) == {"a": 0.0, "b": 2.0}
    assert tracker.update(16.0, {"a": 7}) == {"a": 2.0}
    assert tracker.update(18.0, {"b": 20}) == {"b": 0.0}


def _snapshot() -> dict[str, Any]:
    return {
        "connectors": [{"name": "crm-source", "state": "RUNNING",
                        "tasks": [{"id": 0, "state": "FAILED"}]}],
        "lag": [{"group": "isthmus-customers", "topic": "crm.crm.customers", "lag": 7}],
        "groups": [{"group": "isthmus-customers", "consumed": 120}],
        "topics": [{"topic": 'odd"name', "records": 42}],
        "dlq_topic": "isthmus.dlq", "dead_letter_count": 3, "dead_letters_pending": 2,
        "dead_letters_by_stage": {"sink-crm": 2, "flow": 1},
    }


def test_metrics_have_connector_task_lag_and_dead_letter_series() -> None:
    text = scrape(dashboard_registry(_snapshot, lambda: None))
    samples = parse(text)
    assert value(samples, "isthmus_connector_state", connector="crm-source", state="RUNNING") == 1
    assert value(samples, "isthmus_connector_state", connector="crm-source", state="FAILED") == 0
    assert value(samples, "isthmus_connector_task_state", connector="crm-source", task="0", state="FAILED") == 1
    assert value(samples, "isthmus_consumer_lag", group="isthmus-customers", topic="crm.crm.customers") == 7
    assert value(samples, "isthmus_consumer_committed_total", group="isthmus-customers") == 120
    assert value(samples, "isthmus_topic_end_offset_total", topic='odd"name') == 42
    assert 'isthmus_topic_end_offset_total{topic="odd\\"name"} 42.0' in text.splitlines()
    assert value(samples, "isthmus_dead_letters", topic="isthmus.dlq") == 3
    assert value(samples, "isthmus_dead_letters_pending", topic="isthmus.dlq") == 2
    assert value(samples, "isthmus_dead_letters_by_stage", topic="isthmus.dlq", stage="sink-crm") == 2
    assert types(text)["isthmus_consumer_lag"] == "gauge"


def test_port_comes_from_the_environment_or_defaults() -> None:
    assert dashboard_port({}) == DEFAULT_PORT == 18088
    assert dashboard_address({"ISTHMUS_DASHBOARD_PORT": "28188"}) == "http://127.0.0.1:28188/"
    with pytest.raises(BadDashboardPort, match="ISTHMUS_DASHBOARD_PORT: 'http' is not a port"):
        dashboard_port({"ISTHMUS_DASHBOARD_PORT": "http"})
    with pytest.raises(BadDashboardPort):
        dashboard_port({"ISTHMUS_DASHBOARD_PORT": "70000"})


def test_token_from_bearer_header_before_cookie() -> None:
    both = make_mocked_request("GET", "/", headers={"Authorization": "Bearer o-tok", "Cookie": f"{COOKIE}=v-tok"})
    assert token_of(both) == "o-tok"
    assert token_of(make_mocked_request("GET", "/", headers={"Cookie": f"{COOKIE}=v-tok"})) == "v-tok"
    assert token_of(make_mocked_request("GET", "/")) is None
    assert caller_of(both, POLICY).role is Role.OPERATOR
    assert caller_of(make_mocked_request("GET", "/"), POLICY).role is Role.VIEWER
    assert caller_of(make_mocked_request("GET", "/"), AccessPolicy()) == LOCAL


def test_unknown_token_is_refused_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="isthmus.audit")
    with pytest.raises(AccessDenied, match="unknown token"):
        caller_of(make_mocked_request("GET", "/", headers={"Authorization": "Bearer nope"}), POLICY)
    assert any("denied authenticate to unknown token" in r.getMessage() for r in caplog.records)
    assert all("nope" not in r.getMessage() for r in caplog.records)


def test_api_refuses_by_role_before_touching_kafka(caplog: pytest.LogCaptureFixture) -> None:
    """Role checks come first: with Kafka unreachable, refusals are still 403 (not 502) and audited."""
    caplog.set_level(logging.WARNING, logger="isthmus.audit")
    config = DashboardConfig(bootstrap="127.0.0.1:9", connect_url="http://127.0.0.1:9", policy=POLICY,
                             interval_s=3600)

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        async with TestClient(TestServer(build_app(config))) as client:
            results = []
            for method, path, token, data in (
                    ("POST", "/api/dlq/replay", "v-tok", None),
                    ("POST", "/api/dlq/replay", None, None),
                    ("GET", "/api/customer360/C-1?show_pii=1", "o-tok", None),
                    ("POST", "/login", None, {"token": "wrong"}),
                    ("POST", "/api/dlq/replay", "o-tok", None)):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = await client.request(method, path, headers=headers, data=data)
                results.append((response.status, await response.json()))
            login = await client.post("/login", data={"token": "a-tok"})
            results.append((login.status, await login.json()))
            assert login.cookies[COOKIE].value == "a-tok"
            assert login.cookies[COOKIE]["httponly"]
            return results

    results = asyncio.run(scenario())
    assert [status for status, _ in results] == [403, 403, 403, 403, 400, 200]
    assert "role viewer may not replay dead letters" in results[0][1]["error"]
    assert "role operator may not see personal data of a customer" in results[2][1]["error"]
    assert results[5][1]["role"] == "admin"
    denials = [r.getMessage() for r in caplog.records if r.name == "isthmus.audit"]
    assert len(denials) == 4


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = LabelledHistogram("lat_seconds", "h", "target", buckets=(0.1, 1.0))
    for observed in (0.05, 0.5, 0.7, 3.0):
        histogram.observe("crm", observed)
    registry = CollectorRegistry()
    registry.register(histogram)
    text = scrape(registry)
    samples = parse(text)
    assert value(samples, "lat_seconds_bucket", target="crm", le="0.1") == 1
    assert value(samples, "lat_seconds_bucket", target="crm", le="1.0") == 3
    assert value(samples, "lat_seconds_bucket", target="crm", le="+Inf") == 4
    assert value(samples, "lat_seconds_sum", target="crm") == 4.25
    assert types(text)["lat_seconds"] == "histogram"
    assert histogram.count("crm") == 4
    assert histogram.quantile("crm", 0.5) == 1.0
    assert histogram.quantile("crm", 1.0) is None
    assert histogram.quantile("erp", 0.5) is None


def test_latency_joins_commands_and_results_in_either_order() -> None:
    join = LatencyJoin()
    commit = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    join.command({"command_id": "c1", "source": {"commit_time": commit}})
    join.result({"command_id": "c1", "target": "erp", "applied_at": commit + timedelta(seconds=0.4), "attempts": 3})
    join.result({"command_id": "c2", "target": "crm", "applied_at": commit + timedelta(seconds=2)})
    assert join.histogram.count("crm") == 0
    join.command({"command_id": "c2", "source": {"commit_time": commit}})
    join.result({"command_id": "unknown", "target": "crm", "applied_at": commit})
    summary = {row["target"]: row for row in join.summary()}
    assert summary["erp"] == {"target": "erp", "applied": 1, "since": join.since.isoformat(), "p50_s": 0.5,
                              "p95_s": 0.5}
    assert summary["crm"]["applied"] == 1 and summary["crm"]["p50_s"] == 2.5
    assert join.retries == {"erp": 2, "crm": 0}
