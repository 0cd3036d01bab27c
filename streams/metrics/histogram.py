"""A Prometheus histogram (cumulative buckets, sum, count) per label set, rendered as exposition text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: Seconds: CDC end-to-end latencies run from tens of milliseconds to minutes when a target is down.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(kw_only=True)
class _Series:
    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass(kw_only=True)
class Histogram:
    name: str
    help: str
    label: str
    buckets: Sequence[float] = LATENCY_BUCKETS
    _series: dict[str, _Series] = field(default_factory=dict)

    def observe(self, label_value: str, value: float) -> None:
        series = self._series.setdefault(label_value, _Series(counts=[0] * len(self.buckets)))
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                series.counts[index] += 1
        series.total += value
        series.count += 1

    def count(self, label_value: str) -> int:
        series = self._series.get(label_value)
        return series.count if series else 0

    def quantile(self, label_value: str, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (None: no observation, or above every bucket)."""
        series = self._series.get(label_value)
        if not series or not series.count:
            return None
        wanted = q * series.count
        for bound, cumulative in zip(self.buckets, series.counts, strict=True):
            if cumulative >= wanted:
                return bound
        return None

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for value, series in sorted(self._series.items()):
            label = f'{self.label}="{value}"'
            for bound, cumulative in zip(self.buckets, series.counts, strict=True):
                out.append(f'{self.name}_bucket{{{label},le="{bound:g}"}} {cumulative}')
            out.append(f'{self.name}_bucket{{{label},le="+Inf"}} {series.count}')
            out.append(f"{self.name}_sum{{{label}}} {series.total:.6f}")
            out.append(f"{self.name}_count{{{label}}} {series.count}")
        return out
