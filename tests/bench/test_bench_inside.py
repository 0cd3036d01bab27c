"""The latency benchmark's look inside the worker and the sinks: what each histogram gained between two scrapes
of a process's /metrics, read back from the exposition prometheus_client writes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench import inside
from streams.metrics.histogram import LabelledHistogram


def _histograms(histogram: LabelledHistogram) -> inside.Histograms:
    """What ``inside.scrape`` reads from a process serving only this histogram."""
    registry = CollectorRegistry()
    registry.register(histogram)
    text = generate_latest(registry).decode()
    return inside.read(text)


def test_what_a_histogram_gained_between_scrapes_is_that_rate_s_alone() -> None:
    queue = LabelledHistogram("isthmus_sink_queue_seconds", "q", "target")
    for _ in range(10):
        queue.observe("erp", 20.0)  # an earlier rate's backlog: not this rate's
    before = _histograms(queue)
    for seconds in (0.04, 0.04, 0.04, 0.45):
        queue.observe("erp", seconds)
    gained = inside.spent(before, _histograms(queue), "isthmus_sink_queue_seconds")
    assert gained is not None
    assert gained.count == 4 and gained.mean_s == pytest.approx((3 * 0.04 + 0.45) / 4)
    assert gained.p50_s == 0.05 and gained.p99_s == 0.5
    assert inside.spent(before, before, "isthmus_sink_queue_seconds") is None, "nothing observed in between"


def test_the_summary_names_the_stages_in_a_record_s_order() -> None:
    delivery = LabelledHistogram("isthmus_sink_delivery_seconds", "d", "target")
    delivery.observe("erp", 0.2)
    after = {"sink-erp": _histograms(delivery)}
    summary = inside.summary({}, after)
    assert list(summary) == ["ERP sink: target API (first try → answer)"]
    assert summary["ERP sink: target API (first try → answer)"]["count"] == 1
    assert "mean 0.200s, p99 ≤ 0.200s per command" in inside.describe(summary)


def test_the_summary_gives_the_flow_s_records_per_batch() -> None:
    waits = LabelledHistogram("isthmus_flow_record_wait_seconds", "w", "flow")
    handler = LabelledHistogram("isthmus_flow_handler_seconds", "h", "flow")
    for _ in range(300):
        waits.observe("isthmus-customers", 0.1)
    for _ in range(2):
        handler.observe("isthmus-customers", 0.05)
    after = {"worker-customers": {**_histograms(waits), **_histograms(handler)}}
    summary = inside.summary({}, after)
    assert summary["flow: records per batch"]["mean"] == 150.0
    assert "flow: records per batch: 150.0" in inside.describe(summary)
