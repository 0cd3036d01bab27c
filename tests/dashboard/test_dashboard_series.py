"""The charts' series without services: ring buffers, rates from counters, interval latency, what is drawn."""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.dashboard.app import DashboardConfig, build_app
from streams.dashboard.rates import RateTracker
from streams.dashboard.series import History, IntervalLatency, Point, SeriesBook, pick
from streams.inspect.roles import AccessPolicy, Role
from streams.metrics.histogram import LabelledHistogram, bucket_quantile


def test_a_series_keeps_only_its_last_points() -> None:
    book = SeriesBook(capacity=3)
    for second in range(5):
        book.record(float(second), {"a": second * 10.0})
    assert book.series() == {"a": [(2.0, 20.0), (3.0, 30.0), (4.0, 40.0)]}


def test_a_sample_without_a_value_is_a_gap_and_a_name_without_values_for_a_window_is_forgotten() -> None:
    book = SeriesBook(capacity=3)
    book.record(0.0, {"old": 1.0, "new": None})
    book.record(1.0, {"new": 2.0})
    book.record(2.0, {"new": None})
    assert book.series() == {"old": [(0.0, 1.0), (1.0, None), (2.0, None)], "new": [(1.0, 2.0), (2.0, None)]}
    book.record(3.0, {"new": 4.0})
    assert book.series() == {"new": [(1.0, 2.0), (2.0, None), (3.0, 4.0)]}


def test_memory_is_bounded_however_many_names_come_and_go() -> None:
    book = SeriesBook(capacity=10)
    for second in range(1000):
        book.record(float(second), {f"group-{second}": 1.0, "steady": 2.0})
    series = book.series()
    assert len(series) == 11 and len(series["steady"]) == 10
    with pytest.raises(ValueError, match="room for 2 points"):
        SeriesBook(capacity=1)


def test_rates_from_counters_leave_a_gap_where_there_is_nothing_to_compare() -> None:
    tracker = RateTracker()
    assert tracker.since(10.0, {"a": 100}) == {"a": None}
    assert tracker.since(12.0, {"a": 110, "b": 5}) == {"a": 5.0, "b": None}
    assert tracker.since(14.0, {"a": 3, "b": 9}) == {"a": None, "b": 2.0}
    assert tracker.since(14.0, {"a": 5, "b": 9}) == {"a": None, "b": None}


def _buckets(*observed: float) -> list[tuple[float, float]]:
    histogram = LabelledHistogram("t_seconds", "t", "target")
    for value in observed:
        histogram.observe("erp", value)
    return histogram.cumulative("erp")


def test_interval_latency_tells_50_ms_from_500_ms_within_each_interval() -> None:
    latency = IntervalLatency()
    fast = [0.04] * 10
    assert latency.since(0.0, {"erp": _buckets(*fast)}) == {"erp": None}
    assert latency.since(2.0, {"erp": _buckets(*fast, *[0.04] * 4)}) == {"erp": (2.0, 0.05, 0.05)}
    slow = _buckets(*fast, *[0.04] * 4, *[0.45] * 9, 3.0)
    assert latency.since(4.0, {"erp": slow}) == {"erp": (5.0, 0.5, 5.0)}
    assert latency.since(6.0, {"erp": slow}) == {"erp": (0.0, None, None)}
    assert bucket_quantile(_buckets(0.04, 0.45), 0.5) == 0.05


def test_interval_latency_restarts_when_the_histogram_went_back() -> None:
    latency = IntervalLatency()
    latency.since(0.0, {"erp": _buckets(0.04, 0.04)})
    assert latency.since(1.0, {"erp": _buckets(0.04)}) == {"erp": None}
    assert latency.since(2.0, {"erp": _buckets(0.04, 0.45)}) == {"erp": (1.0, 0.5, 0.5)}
    assert latency.since(3.0, {}) == {}
    assert latency.since(4.0, {"erp": _buckets(0.04, 0.45, 0.45)}) == {"erp": None}


def test_history_sorts_groups_into_flows_and_sinks_and_charts_latency_per_target() -> None:
    history = History(capacity=5, interval_s=2.0)
    for at, consumed, applied in ((0.0, None, ()), (2.0, 4.0, (0.04, 0.04)), (4.0, 6.0, (0.04, 0.04, 0.45))):
        history.record(at, group_rates={"isthmus-customers": consumed, "isthmus-sink-erp": consumed},
                       lag={"isthmus-customers": 3, "isthmus-sink-erp": 0}, topic_rates={"crm.crm.customers": 1.5},
                       latency={"erp": _buckets(*applied)})
    charts = {c["id"]: c for c in history.charts()["charts"]}
    assert _drawn(charts["flow-throughput"]) == {"isthmus-customers": [[2.0, 4.0], [4.0, 6.0]]}
    assert _drawn(charts["sink-throughput"]) == {"isthmus-sink-erp": [[2.0, 4.0], [4.0, 6.0]]}
    assert _drawn(charts["lag"]) == {"isthmus-customers": [[0.0, 3.0], [2.0, 3.0], [4.0, 3.0]]}
    assert charts["lag"]["hidden"] == 1
    assert _drawn(charts["topic-throughput"])["crm.crm.customers"][0] == [0.0, 1.5]
    assert _drawn(charts["target-throughput"]) == {"erp": [[2.0, 1.0], [4.0, 0.5]]}
    assert _drawn(charts["latency"]) == {"erp p50": [[2.0, 0.05], [4.0, 0.5]], "erp p95": [[2.0, 0.05], [4.0, 0.5]]}
    assert charts["latency"]["scale"] == "log"
    assert history.charts()["points"] == 5


def _drawn(chart: dict[str, Any]) -> dict[str, list[list[float]]]:
    return {s["name"]: s["points"] for s in chart["series"]}


def test_pick_draws_the_busiest_matching_series_and_counts_the_rest() -> None:
    series: dict[str, list[Point]] = {"idle": [(0.0, 0.0), (1.0, None)], "a-run1": [(0.0, None), (1.0, 1.0)],
                                      "b-run1": [(0.0, 9.0)],
              "c-run1": [(0.0, 5.0)], "d-run2": [(0.0, 99.0)]}
    drawn, hidden = pick(series, shown=2)
    assert list(drawn) == ["b-run1", "d-run2"] and hidden == 3
    drawn, hidden = pick(series, match="run1", shown=2)
    assert list(drawn) == ["b-run1", "c-run1"] and hidden == 1
    assert pick(series, match="nothing") == ({}, 0)


def test_series_api_answers_viewers_and_refuses_a_bad_count() -> None:
    policy = AccessPolicy(tokens=MappingProxyType({"v-tok": Role.VIEWER}), source="test")
    config = DashboardConfig(bootstrap="127.0.0.1:9", connect_url="http://127.0.0.1:9", policy=policy,
                             interval_s=3600, history_points=30, targets=("erp",))

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        async with TestClient(TestServer(build_app(config))) as client:
            answers = []
            for path, token in (("/api/series?match=isthmus&shown=3", "v-tok"), ("/api/series?shown=many", "v-tok"),
                                ("/api/series", "wrong")):
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                answers.append((response.status, await response.json()))
            return answers

    ok, bad, refused = asyncio.run(scenario())
    assert ok[0] == 200 and ok[1]["match"] == "isthmus" and ok[1]["points"] == 30
    assert [c["id"] for c in ok[1]["charts"]] == ["flow-throughput", "sink-throughput", "lag", "topic-throughput",
                                                  "target-throughput", "latency"]
    assert bad[0] == 400 and "shown must be a whole number" in bad[1]["error"]
    assert refused[0] == 403
