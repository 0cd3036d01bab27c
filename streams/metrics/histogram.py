"""Latency buckets, and a one-label prometheus_client histogram that also answers counts and quantiles (the
dashboard page shows p50 and p95 from the same buckets /metrics exposes)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from prometheus_client import Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: Seconds. CDC latencies run from tens of milliseconds (a healthy pipeline) to minutes (a target down, then
#: retried), so the buckets are dense below a second, where 50 ms must be told from 500 ms, and sparse above.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0,
    30.0, 45.0, 60.0, 120.0, 300.0, 600.0)


class LabelledHistogram(Collector):
    """A prometheus_client ``Histogram`` with one label, registered in no registry: the process's collector
    yields it (see :meth:`collect`), so it can live in an object that is replaced while the process runs."""

    def __init__(self, name: str, documentation: str, label: str, *,
                 buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name = name
        self.label = label
        self._histogram = Histogram(name, documentation, [label], buckets=buckets, registry=None)

    def observe(self, label_value: str, value: float) -> None:
        self._histogram.labels(label_value).observe(value)

    def collect(self) -> Iterable[Metric]:
        return self._histogram.collect()

    def cumulative(self, label_value: str) -> list[tuple[float, float]]:
        """(upper bound, cumulative count) of each bucket of one series, +Inf last; empty when never observed."""
        return [(float(sample.labels["le"]), sample.value) for metric in self._histogram.collect()
                for sample in metric.samples
                if sample.name == f"{self.name}_bucket" and sample.labels.get(self.label) == label_value]

    def count(self, label_value: str) -> int:
        buckets = self.cumulative(label_value)
        return int(buckets[-1][1]) if buckets else 0

    def quantile(self, label_value: str, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (None: no observation, or above every bucket)."""
        return bucket_quantile(self.cumulative(label_value), q)


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of cumulative ``buckets`` (+Inf last), as the
    dashboard shows it; None when they hold no observation or the quantile is above every finite bound."""
    if not buckets or not buckets[-1][1]:
        return None
    wanted = q * buckets[-1][1]
    for bound, cumulative in buckets:
        if cumulative >= wanted:
            return None if math.isinf(bound) else bound
    return None
