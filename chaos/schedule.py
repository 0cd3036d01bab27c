"""The fault schedule: which fault, at which second of the run. Pure, so it is unit tested."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.exceptions import InvalidChaosOptions

#: Every kind of fault the suite injects; each is injected ``repeats`` times (at least twice).
KINDS: tuple[str, ...] = ("kill-worker", "kill-sink", "restart-connect", "restart-kafka", "outage", "throttle")
#: The kinds of a run on the 3-broker cluster (``--brokers 3``): the same, and one broker of three SIGKILLed and
#: restarted after a pause while the other two keep every partition's in-sync quorum.
CLUSTER_KINDS: tuple[str, ...] = (*KINDS, "kill-broker")
#: Faults that alternate between the two targets (the sink worker or the reference API of that system).
TARGETED = frozenset({"kill-sink", "outage", "throttle"})
SYSTEMS = ("erp", "crm")


@dataclass(frozen=True, kw_only=True)
class PlannedFault:
    at_s: float
    kind: str
    target: str | None = None

    def label(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def plan(*, duration_s: float, repeats: int = 2, min_gap_s: float = 8.0,
         outage_s: float = 60.0, kinds: tuple[str, ...] = KINDS) -> list[PlannedFault]:
    """``repeats`` rounds of every kind of ``kinds``, spread evenly over ``duration_s`` (stretched so that faults are at
    least ``min_gap_s`` apart: a broker restart takes seconds, and faults on top of each other prove less).
    Targeted kinds alternate between the ERP and the CRM, so each system gets each of them.

    An app holds one fault plan at a time, so a throttle sent to an app in an outage would end that outage
    early: within a round the throttle goes to the other system, and a throttle that would still fall into an
    outage of its system waits until one second after that outage."""
    if repeats < 2:
        raise InvalidChaosOptions(f"--repeats {repeats}: every fault kind must be injected at least twice; "
                                  "use 2 or more")
    if duration_s <= 0:
        raise InvalidChaosOptions(f"duration {duration_s}s: the workload must last more than 0 s")
    count = repeats * len(kinds)
    gap = max(min_gap_s, duration_s / (count + 1))
    faults = []
    outages: list[tuple[float, str]] = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        round_no = index // len(kinds)
        target = SYSTEMS[round_no % len(SYSTEMS)] if kind in TARGETED else None
        at = round(gap * (index + 1), 3)
        if kind == "throttle":
            target = SYSTEMS[(round_no + 1) % len(SYSTEMS)]
            for began, system in outages:
                if system == target and began <= at < began + outage_s:
                    at = round(began + outage_s + 1, 3)
        if kind == "outage" and target is not None:
            outages.append((at, target))
        faults.append(PlannedFault(at_s=at, kind=kind, target=target))
    return sorted(faults, key=lambda f: f.at_s)
