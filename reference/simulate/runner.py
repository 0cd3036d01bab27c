"""The simulator's loop: one action per tick at ``rate`` per second, until ``seconds`` pass or
``max_actions`` are done; then a summary of what was answered."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from reference.common.net import require_loopback_url
from reference.simulate.actions import ACTIONS, OK, Actor, Failed, World
from reference.simulate.exceptions import InvalidSimulation, SimulationError


@dataclass(frozen=True, kw_only=True)
class SimulationSpec:
    crm_url: str
    erp_url: str
    rate: float
    seconds: float
    seed: int
    max_actions: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.rate <= 1000:
            problems.append(f"--rate {self.rate} is out of range; use more than 0 and at most 1000")
        if not 0 < self.seconds <= 86_400:
            problems.append(f"--seconds {self.seconds} is out of range; use more than 0 and at most 86400")
        if self.max_actions is not None and self.max_actions < 1:
            problems.append(f"--max-actions {self.max_actions} must be 1 or more")
        if problems:
            raise InvalidSimulation("invalid simulator options:\n  " + "\n  ".join(problems))
        require_loopback_url(self.crm_url, "--crm-url")
        require_loopback_url(self.erp_url, "--erp-url")

    @property
    def action_limit(self) -> int:
        return self.max_actions if self.max_actions is not None else max(1, int(self.rate * self.seconds))


@dataclass
class SimulationSummary:
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, action: str, outcome: str) -> None:
        self.outcomes.setdefault(action, Counter())[outcome] += 1

    @property
    def total(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.outcomes.values():
            total.update(counts)
        return total

    def ok(self, prefix: str = "") -> int:
        return sum(c[OK] for name, c in self.outcomes.items() if name.startswith(prefix))

    def describe(self) -> str:
        actions = sum(self.total.values())
        lines = [f"{actions} actions in {self.seconds:.1f}s ({actions / max(self.seconds, 1e-9):.1f}/s): "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.total.items()))]
        for name in sorted(self.outcomes):
            counts = sorted(self.outcomes[name].items())
            lines.append(f"  {name:<28} " + ", ".join(f"{k} {v}" for k, v in counts))
        return "\n".join(lines)


def simulate(spec: SimulationSpec, *, progress: Callable[[str], None] | None = None) -> SimulationSummary:
    rng = random.Random(spec.seed)
    summary = SimulationSummary()
    crm_url = require_loopback_url(spec.crm_url, "--crm-url")
    erp_url = require_loopback_url(spec.erp_url, "--erp-url")
    with httpx.Client(base_url=crm_url, timeout=10) as crm, httpx.Client(base_url=erp_url, timeout=10) as erp:
        actor = Actor(crm=crm, erp=erp, rng=rng, world=World())
        try:
            actor.discover()
        except Failed as exc:
            raise SimulationError(f"could not read the apps at {crm_url} and {erp_url} ({exc.outcome}); "
                                  "are they running?") from exc
        started = time.monotonic()
        for index in range(spec.action_limit):
            due = started + index / spec.rate
            now = time.monotonic()
            if now - started >= spec.seconds:
                break
            if due > now:
                time.sleep(due - now)
            ready = [a for a in ACTIONS if a.ready(actor.world)]
            action = rng.choices(ready, weights=[a.weight for a in ready])[0]
            try:
                action.run(actor)
                summary.count(action.name, OK)
            except Failed as exc:
                summary.count(action.name, exc.outcome)
            if progress is not None and (index + 1) % max(1, int(spec.rate * 5)) == 0:
                progress(f"{index + 1} actions, {summary.total[OK]} ok")
        summary.seconds = time.monotonic() - started
    return summary
