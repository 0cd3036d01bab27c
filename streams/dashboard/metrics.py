"""The dashboard's metrics: connector and task states, each running connector's capture age, consumer lag and
offsets, dead letters (from the latest sample), and the end-to-end latency, sink retries and conflicts of the
command and result topics' tail.

Everything is read from the :class:`~streams.dashboard.app.Sampler` when /metrics is scraped, so what
Prometheus sees is what the page shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.capture.client import FAILED, PAUSED, RUNNING, STOPPED
from streams.dashboard.latency import LatencyTail

STATES = (RUNNING, FAILED, PAUSED, STOPPED, "UNASSIGNED", "RESTARTING")


def snapshot_metrics(snapshot: Mapping[str, Any]) -> Iterable[Metric]:
    """The metric families of one dashboard snapshot (see :class:`streams.dashboard.app.Sampler`)."""
    connectors = GaugeMetricFamily("isthmus_connector_state",
                                   "1 for the state a connector is in (Kafka Connect REST API).",
                                   labels=["connector", "state"])
    tasks = GaugeMetricFamily("isthmus_connector_task_state", "1 for the state a connector task is in.",
                              labels=["connector", "task", "state"])
    for connector in snapshot["connectors"]:
        for state in STATES:
            connectors.add_metric([str(connector["name"]), state], int(connector["state"] == state))
        for task in connector["tasks"]:
            for state in STATES:
                tasks.add_metric([str(connector["name"]), str(task["id"]), state], int(task["state"] == state))
    age = GaugeMetricFamily("isthmus_capture_age_seconds",
                            "Seconds since a RUNNING connector's newest heartbeat or change record (stalled past a "
                            "few heartbeat intervals: its task reads nothing).", labels=["connector"])
    for name, capture in snapshot.get("captures", {}).items():
        if capture["age_s"] is not None:
            age.add_metric([str(name)], capture["age_s"])
    lag = GaugeMetricFamily("isthmus_consumer_lag", "Records a consumer group has yet to consume, per topic.",
                            labels=["group", "topic"])
    for row in snapshot["lag"]:
        lag.add_metric([str(row["group"]), str(row["topic"])], row["lag"])
    committed = CounterMetricFamily("isthmus_consumer_committed_total",
                                    "Offsets a consumer group has committed (all partitions).", labels=["group"])
    for row in snapshot["groups"]:
        committed.add_metric([str(row["group"])], row["consumed"])
    ends = CounterMetricFamily("isthmus_topic_end_offset_total", "End offsets of a topic summed over its partitions.",
                               labels=["topic"])
    for row in snapshot["topics"]:
        ends.add_metric([str(row["topic"])], row["records"])
    dlq = str(snapshot["dlq_topic"])
    letters = GaugeMetricFamily("isthmus_dead_letters", "Records in the dead-letter topic.", labels=["topic"])
    letters.add_metric([dlq], snapshot["dead_letter_count"])
    pending = GaugeMetricFamily("isthmus_dead_letters_pending",
                                "Dead letters never replayed, or whose last replay failed again.", labels=["topic"])
    pending.add_metric([dlq], snapshot.get("dead_letters_pending", 0))
    by_stage = GaugeMetricFamily("isthmus_dead_letters_by_stage",
                                 "Records in the dead-letter topic by the stage that failed.",
                                 labels=["topic", "stage"])
    for stage, n in snapshot.get("dead_letters_by_stage", {}).items():
        by_stage.add_metric([dlq, str(stage)], n)
    return [connectors, tasks, age, lag, committed, ends, letters, pending, by_stage]


def latency_metrics(tail: LatencyTail) -> Iterable[Metric]:
    """The latency histogram per target, retries per target and settled conflicts of the topics' tail."""
    yield from tail.join.histogram.collect()
    retries = CounterMetricFamily("isthmus_sink_retries_total",
                                  "Calls beyond the first for commands a target applied (since the dashboard "
                                  "started).", labels=["target"])
    for target in tail.join.targets:
        retries.add_metric([target], tail.join.retries[target])
    yield retries
    conflicts = CounterMetricFamily("isthmus_conflicts_total", "Field conflicts settled, from isthmus.audit.conflicts.",
                                    labels=["entity", "field", "winner"])
    for (entity, field, winner), n in sorted(tail.conflicts.items()):
        conflicts.add_metric([entity, field, winner], n)
    yield conflicts


class DashboardCollector(Collector):
    """Reads the sampler's latest snapshot and its latency tail (replaced after a Kafka error) at each scrape."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]], latency: Callable[[], LatencyTail | None]) -> None:
        self.snapshot = snapshot
        self.latency = latency

    def collect(self) -> Iterable[Metric]:
        yield from snapshot_metrics(self.snapshot())
        tail = self.latency()
        if tail is not None:
            yield from latency_metrics(tail)


def dashboard_registry(snapshot: Callable[[], Mapping[str, Any]],
                       latency: Callable[[], LatencyTail | None]) -> CollectorRegistry:
    """The dashboard process's registry (its own, not prometheus_client's global one)."""
    registry = CollectorRegistry()
    registry.register(DashboardCollector(snapshot, latency))
    return registry
