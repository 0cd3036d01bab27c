"""Per-second rates from successive samples of growing counters (topic end offsets, committed offsets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(kw_only=True)
class RateTracker:
    """Remembers the previous sample of each counter; :meth:`since` returns the rate since it.

    A counter seen for the first time has no rate yet; a counter that went down (a topic recreated, a group
    reset) restarts from its new value instead of reporting a negative rate.
    """

    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def since(self, now: float, counts: Mapping[str, int]) -> dict[str, float | None]:
        """Each counter's rate per second since the previous sample; None when there is none to compare with
        (first seen, went down, or no time passed): a chart leaves a gap there rather than draw a false zero."""
        rates: dict[str, float | None] = {}
        for name, count in counts.items():
            previous = self._last.get(name)
            if previous is None or count < previous[1] or now <= previous[0]:
                rates[name] = None
            else:
                rates[name] = (count - previous[1]) / (now - previous[0])
            self._last[name] = (now, count)
        for gone in set(self._last) - set(counts):
            del self._last[gone]
        return rates

    def update(self, now: float, counts: Mapping[str, int]) -> dict[str, float]:
        """As :meth:`since`, with 0 where there is no rate yet (the tables' figure)."""
        return {name: rate or 0.0 for name, rate in self.since(now, counts).items()}
