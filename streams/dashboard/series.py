"""The dashboard's figures over time: bounded in-memory series of what each sample already read, for its charts.

Every sample appends one point per name to each measure: records consumed per second and lag per consumer group
(flows, and sinks: groups named ``isthmus-sink-<system>``), records written per second per topic, and per
target the commands applied per second and the p50/p95 end-to-end latency of the commands applied since the
previous sample (the difference of two readings of the cumulative latency histogram, so one slow minute shows
as a slow minute, not as a drift of the all-time figure). Each series is a ring of at most ``capacity`` points,
one per sample, None where that sample had no value (the chart breaks the line there: a sample can take longer
than the interval, so time alone cannot tell a gap); a name without a value for a whole window (a deleted group,
a topic gone) is forgotten, so memory stays bounded however many groups come and go. Nothing is stored on disk:
the history starts with the dashboard.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.kafka import names
from streams.metrics.histogram import bucket_quantile
from streams.sinks.topics import SINK_GROUP

#: A point: (seconds since the epoch, value); None is a gap (a sample without a value for that name).
Point = tuple[float, float | None]
#: Cumulative histogram buckets: (upper bound, observations at or below it), +Inf last.
Buckets = Sequence[tuple[float, float]]

#: Series drawn per chart by default: the busiest ones; the rest are counted as hidden.
SHOWN_SERIES = 8


class SeriesBook:
    """Named series of one measure, each a ring buffer of at most ``capacity`` points."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"a series needs room for 2 points at least to draw a line, not {capacity}")
        self.capacity = capacity
        self._times: deque[float] = deque(maxlen=capacity)
        self._series: dict[str, deque[Point]] = {}
        self._valued: dict[str, float] = {}

    def record(self, at: float, values: Mapping[str, float | None]) -> None:
        """One sample taken at ``at``: a point for each name with a value, a gap for each known name without."""
        self._times.append(at)
        for name, value in values.items():
            if value is not None:
                self._series.setdefault(name, deque(maxlen=self.capacity)).append((at, float(value)))
                self._valued[name] = at
        for points in self._series.values():
            if points[-1][0] != at:
                points.append((at, None))
        oldest = self._times[0]
        for name in [n for n, last in self._valued.items() if last < oldest]:
            del self._series[name], self._valued[name]

    def series(self) -> dict[str, list[Point]]:
        return {name: list(points) for name, points in sorted(self._series.items())}


@dataclass(kw_only=True)
class IntervalLatency:
    """Per target, what was applied between two readings of a cumulative latency histogram: how many commands
    per second, and the p50/p95 of their latencies (bucket upper bounds, as the table shows them)."""

    _last: dict[str, tuple[float, list[tuple[float, float]]]] = field(default_factory=dict)

    def since(self, now: float, histograms: Mapping[str, Buckets]) -> dict[str, tuple[float, float | None,
                                                                                       float | None] | None]:
        """target -> (applied per second, p50, p95) since the previous reading; None for a target's first
        reading, or when its histogram went back (the dashboard's latency tail was restarted after an error)."""
        found: dict[str, tuple[float, float | None, float | None] | None] = {}
        for target, buckets in histograms.items():
            current = list(buckets)
            previous = self._last.get(target)
            self._last[target] = (now, current)
            if previous is None or now <= previous[0]:
                found[target] = None
                continue
            before = dict(previous[1])
            delta = [(bound, count - before.get(bound, 0.0)) for bound, count in current]
            if any(count < 0 for _, count in delta) or (previous[1] and not current):
                found[target] = None
                continue
            applied = delta[-1][1] if delta else 0.0
            found[target] = (applied / (now - previous[0]), bucket_quantile(delta, 0.5), bucket_quantile(delta, 0.95))
        for gone in set(self._last) - set(histograms):
            del self._last[gone]
        return found


@dataclass(frozen=True, kw_only=True)
class ChartSpec:
    id: str
    title: str
    unit: str
    scale: str = "linear"


FLOW_THROUGHPUT = ChartSpec(id="flow-throughput", title="Flows: records consumed per second", unit="records/s")
SINK_THROUGHPUT = ChartSpec(id="sink-throughput", title="Sinks: commands consumed per second", unit="commands/s")
LAG = ChartSpec(id="lag", title="Consumer lag of flows and sinks", unit="records")
TOPIC_THROUGHPUT = ChartSpec(id="topic-throughput", title="Topics: records written per second", unit="records/s")
TARGET_THROUGHPUT = ChartSpec(id="target-throughput", title="Targets: commands applied per second",
                              unit="commands/s")
LATENCY = ChartSpec(id="latency", title="End-to-end latency per target, p50 and p95 of each interval", unit="s",
                    scale="log")
CHARTS: tuple[ChartSpec, ...] = (FLOW_THROUGHPUT, SINK_THROUGHPUT, LAG, TOPIC_THROUGHPUT, TARGET_THROUGHPUT, LATENCY)


class History:
    """Every chart's series, fed by the dashboard's sampler once per interval."""

    def __init__(self, *, capacity: int, interval_s: float) -> None:
        self.capacity = capacity
        self.interval_s = interval_s
        self.books = {chart.id: SeriesBook(capacity) for chart in CHARTS}
        self._latency = IntervalLatency()

    def record(self, at: float, *, group_rates: Mapping[str, float | None], lag: Mapping[str, int],
               topic_rates: Mapping[str, float | None], latency: Mapping[str, Buckets]) -> None:
        """One sample: rates already computed from the counters (None: no rate yet), lag per group, and the
        cumulative latency histogram of each target."""
        self.books[FLOW_THROUGHPUT.id].record(at, {g: r for g, r in group_rates.items() if not _is_sink(g)})
        self.books[SINK_THROUGHPUT.id].record(at, {g: r for g, r in group_rates.items() if _is_sink(g)})
        self.books[LAG.id].record(at, {g: float(n) for g, n in lag.items()})
        self.books[TOPIC_THROUGHPUT.id].record(at, topic_rates)
        applied: dict[str, float | None] = {}
        quantiles: dict[str, float | None] = {}
        for target, interval in self._latency.since(at, latency).items():
            applied[target] = interval[0] if interval else None
            quantiles[f"{target} p50"] = interval[1] if interval else None
            quantiles[f"{target} p95"] = interval[2] if interval else None
        self.books[TARGET_THROUGHPUT.id].record(at, applied)
        self.books[LATENCY.id].record(at, quantiles)

    def charts(self, *, match: str = "", shown: int = SHOWN_SERIES) -> dict[str, Any]:
        """Every chart with its series whose name contains ``match``, the ``shown`` busiest of them; JSON-ready."""
        charts = []
        for chart in CHARTS:
            drawn, hidden = pick(self.books[chart.id].series(), match=match, shown=shown)
            charts.append({"id": chart.id, "title": chart.title, "unit": chart.unit, "scale": chart.scale,
                           "series": [{"name": name, "points": [[round(t, 3), v] for t, v in points]}
                                      for name, points in drawn.items()],
                           "hidden": hidden})
        return {"interval_s": self.interval_s, "points": self.capacity, "match": match, "charts": charts}


def pick(series: Mapping[str, list[Point]], *, match: str = "", shown: int = SHOWN_SERIES
         ) -> tuple[dict[str, list[Point]], int]:
    """The series to draw: those whose name contains ``match`` and that moved (a value other than 0), the
    ``shown`` with the highest peak, by name; and how many matching series were left out (quiet or beyond
    ``shown``). A stack keeps many idle groups (old tests, stopped flows): drawing them all would hide the few
    that move."""
    matching = {name: points for name, points in series.items() if match in name}
    peaks = {name: max(v or 0.0 for _, v in points) for name, points in matching.items()}
    busiest = sorted((n for n, peak in peaks.items() if peak), key=lambda n: (-peaks[n], n))[:max(shown, 0)]
    return {name: matching[name] for name in sorted(busiest)}, len(matching) - len(busiest)


def _is_sink(group: str) -> bool:
    """Whether ``group`` is a sink's (``isthmus sink``'s default group); every other group is charted as a flow."""
    return group.startswith(names.group(SINK_GROUP))
