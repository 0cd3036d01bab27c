"""A histogram the engine and the sinks fill without a Prometheus object, rendered by prometheus_client when
/metrics is scraped.

The flow engine keeps plain counters that a collector reads at each scrape (``streams/worker/metrics.py``); a
``Tally`` is the same for durations: bucket counts and a sum, on the shared latency buckets, that one collector
turns into a ``HistogramMetricFamily`` with whatever labels its process uses (worker and flow, or target)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from prometheus_client.metrics_core import HistogramMetricFamily

from streams.metrics.histogram import LATENCY_BUCKETS


class Tally:
    """Observations of one duration: how many fell at or below each bound (``le``), their sum and count."""

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        if list(bounds) != sorted(bounds):
            raise ValueError(f"a tally's bounds must be ascending, got {list(bounds)}")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float, times: int = 1) -> None:
        """Count ``times`` observations of ``seconds`` (a batch's records that waited alike)."""
        self._counts[bisect.bisect_left(self.bounds, seconds)] += times
        self.count += times
        self.sum += seconds * times

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it) of each bucket, +Inf last, as Prometheus writes them."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out


def histogram_family(name: str, documentation: str, labels: Sequence[str],
                     series: Iterable[tuple[Sequence[str], Tally]]) -> HistogramMetricFamily:
    """One histogram family: a series per (label values, tally)."""
    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for values, tally in series:
        family.add_metric(list(values), [(_le(bound), float(n)) for bound, n in tally.cumulative()],
                          sum_value=tally.sum)
    return family


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))
