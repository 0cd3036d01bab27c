"""What a flow waits for before it is ready: for the worker's /ready and its log.

A flow is ready when its consumer has joined its group (the assignment of the group's current rebalance is in hand)
and every task it was assigned has started: its producer fenced any previous owner of the task (and aborted its open
transaction), its stores are restored to the end of their changelogs and its inputs are back at their committed
offsets. A worker assigned no task of a flow (a standby of a fleet) is ready once it has joined. Nothing else is:
not before the first join, not during a rebalance (the group has taken the partitions back), not while a task
starts. :class:`TaskStart` follows one task's start; it logs what a restore replays and from where, a progress line
every ``PROGRESS_EVERY_S`` and the time each step took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

#: How often a long restore logs its progress, and how long a group join runs before it is logged as a wait.
PROGRESS_EVERY_S = 5.0

#: A task's start, step by step: its producer (``init_transactions`` fences the task's previous owner), its stores
#: replayed from their changelogs, its inputs positioned at their committed offsets.
Step = Literal["producer", "stores", "inputs"]


@dataclass
class StoreReplay:
    """One store's replay: its changelog partition from ``first`` (where the store stood) to ``end``."""

    topic: str
    partition: int
    first: int
    end: int
    #: Where ``first`` comes from, as the log says it ("the beginning", "the local checkpoint at offset 4000", ...).
    source: str
    #: The offset read up to so far, and the records applied (offsets count transaction markers too).
    at: int = 0
    records: int = 0

    def __post_init__(self) -> None:
        self.at = self.first

    @property
    def of(self) -> int:
        """Changelog offsets to read: its records, give or take transaction markers and what compaction removed."""
        return max(0, self.end - self.first)

    @property
    def restored(self) -> int:
        return max(0, min(self.at, self.end) - self.first)


@dataclass
class TaskStart:
    """The start of task ``partition`` of ``flow``: its step, its stores' replays, the time each step took."""

    flow: str
    partition: int
    clock: Callable[[], float] = time.monotonic
    step: Step = "producer"
    stores: dict[str, StoreReplay] = field(default_factory=dict)
    #: Seconds each finished step took.
    took: dict[Step, float] = field(default_factory=dict)
    _began: float = 0.0
    _step_began: float = 0.0
    _restore_began: float = 0.0
    _logged_at: float = 0.0

    def __post_init__(self) -> None:
        self._began = self._step_began = self.clock()

    def next(self, step: Step) -> None:
        now = self.clock()
        self.took[self.step] = now - self._step_began
        self.step, self._step_began = step, now

    @property
    def to_replay(self) -> int:
        return sum(s.of for s in self.stores.values())

    @property
    def replayed(self) -> int:
        return sum(s.restored for s in self.stores.values())

    def replaying(self, stores: dict[str, StoreReplay]) -> None:
        """The stores' replays are known (their changelogs' offsets): logs what is restored from where."""
        self.stores = stores
        self._restore_began = self._logged_at = self.clock()
        if not stores:
            return
        busy = [f"{name} from {s.source} ({s.of} to replay, {s.topic}/{s.partition} offsets {s.first}..{s.end})"
                for name, s in stores.items() if s.of]
        idle = [name for name, s in stores.items() if not s.of]
        log.info("%s task %d: restoring %d store(s) from their changelogs, about %d records to replay%s%s", self.flow,
                 self.partition, len(stores), self.to_replay, f": {'; '.join(busy)}" if busy else "",
                 f"{'; ' if busy else ': '}nothing to replay for {', '.join(idle)} (at their changelogs' end)"
                 if idle else "")

    def read(self, store: str, at: int, records: int = 0) -> None:
        """``store`` has been read up to offset ``at``, ``records`` more applied; every ``PROGRESS_EVERY_S`` a line
        says how far the task's restore is."""
        replay = self.stores[store]
        replay.at = at
        replay.records += records
        now = self.clock()
        if now - self._logged_at < PROGRESS_EVERY_S:
            return
        self._logged_at = now
        elapsed = now - self._restore_began
        replayed, total = self.replayed, self.to_replay
        rate = replayed / elapsed if elapsed > 0 else 0.0
        left = f", about {(total - replayed) / rate:.0f}s left" if rate > 0 else ""
        log.info("%s task %d: restoring: %d of %d changelog records replayed (%.0f%%) in %.0fs, %.0f records/s%s; "
                 "store %s at offset %d of %d", self.flow, self.partition, replayed, total,
                 100.0 * replayed / total if total else 100.0, elapsed, rate, left, store, at,
                 self.stores[store].end)

    def done(self, inputs: dict[Any, int]) -> None:
        """The task is ready: one line with the time each step took and where its inputs are read from."""
        self.next("inputs")  # closes the last step
        stores = self.took.get("stores", 0.0)
        replayed = sum(s.records for s in self.stores.values())
        log.info("%s task %d: ready in %.1fs (producer %.1fs, fencing any previous owner; stores %.1fs, %d changelog "
                 "records replayed%s; inputs %.1fs); consuming %s", self.flow, self.partition,
                 self.clock() - self._began, self.took.get("producer", 0.0), stores, replayed,
                 f", {replayed / stores:.0f}/s" if replayed and stores > 0 else "", self.took.get("inputs", 0.0),
                 ", ".join(f"{tp.topic}/{tp.partition} from offset {offset}" for tp, offset in sorted(
                     inputs.items(), key=lambda item: (item[0].topic, item[0].partition))) or "nothing")

    def as_json(self) -> dict[str, Any]:
        """For /ready: the step, and each store's replay so far (offsets of its changelog read, of how many)."""
        return {"step": self.step,
                "stores": {name: {"restored": s.restored, "of": s.of} for name, s in self.stores.items()}}


def waiting_for(state: str, *, group: str, joining_s: float, session_timeout_ms: int,
                starts: dict[int, TaskStart]) -> str:
    """What a flow that is not ready waits for, in a sentence (/ready's ``waiting_for``)."""
    if state == "starting":
        return "the flow to start (its topics checked, its consumer made), or to restart after a Kafka error"
    if state == "joining":
        return (f"its consumer group {group} to assign its partitions ({joining_s:.0f}s so far): the group waits "
                "for its members to rejoin, and a member that stopped without leaving it (kill -9, a crash) holds "
                f"them until its session times out (session.timeout.ms={session_timeout_ms})")
    steps = {"producer": "its producer to fence any previous owner",
             "stores": "its stores to be restored", "inputs": "its inputs to be positioned"}
    return "; ".join(f"task {p}: {steps[s.step]}"
                     + (f" ({s.replayed} of {s.to_replay} changelog records replayed)" if s.step == "stores" else "")
                     for p, s in sorted(starts.items()))


def join_wait(group: str, waited_s: float, session_timeout_ms: int) -> str:
    """The log line of a group join that takes longer than ``PROGRESS_EVERY_S``."""
    return (f"still joining consumer group {group} after {waited_s:.0f}s: the group waits for its other members to "
            "rejoin; one that stopped without leaving the group (kill -9, a crash) holds the partitions until its "
            f"session times out (session.timeout.ms={session_timeout_ms}, ISTHMUS_WORKER_SESSION_TIMEOUT_MS); the "
            "flow is not ready until then")
