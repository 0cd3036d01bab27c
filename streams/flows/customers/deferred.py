"""Decisions a source transaction released in parts leaves for its end.

A transaction of more changes than the flow's ``transaction_limit`` reaches the flow in parts
(:class:`~streams.flows.customers.txnet.Part`), so that a bulk load in one transaction is never held whole. The flow
folds each part into its entities as it comes, but decides only once the transaction has ended: a decision taken
after the first part would write a customer without the contacts and addresses a later part brings, and write it
again after that one (the 20,000-customer initial sync sent 40,030 ERP commands, half of them updates through a
look-up and a PATCH each, and as many CRM link-backs). Each part leaves here the entities it touched, with the
change that last touched each (the cause of its commands); the last part ends the transaction, and its entities
are decided, a bounded number at a time (each decision's state and output stay in memory until its batch
commits): up to :data:`DECISIONS_PER_BATCH` (or the flow's limit, if lower) with the last part, the rest at the
flow's next ticks, which the flow asks for at once (``Waiting.busy``); a last part past that many is left here
too, not decided whole with the END. A decision is made on the entity's state
as it is then: an entity a later transaction changed and decided meanwhile has nothing left to send. The
entity's canonical record waits for its decision too (``CustomerState.held``): it is published once, with
what every part brought.

The ``deferred`` store holds, per transaction, ``tx:<tx>`` (how many chunks it wrote, the next one to decide) and
``chunk:<tx>:<n>`` (up to :data:`CHUNK` entities with their causes), and ``ended``, the transactions ended whose
chunks are not all decided, in the order they ended. An entity two parts touched is in two chunks: its second
decision finds nothing left to send. Like every store it is written to its changelog in the batch's transaction,
so a restart goes on where the last commit left it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from streams.flows.commands import Cause
from streams.flows.engine.api import Incoming, Store
from streams.flows.engine.values import from_store, to_store

DEFERRED = "deferred"
#: Entities per stored chunk of one transaction's deferred decisions (~300 KB of JSON with causes).
CHUNK = 1_000
#: Entities decided at most per batch (whole chunks): each one's decoded state, commands, canonical record and
#: changelog value stay in memory until the batch commits. A batch of 10,000 (the transaction limit, used before)
#: held ~104 MiB of Python objects above what was there before it, one of 2,000 ~45 MiB (tracemalloc, a bulk load
#: of 12,000 customers through LocalRun). 2,000 is the engine's batch of records
#: (:data:`~streams.flows.engine.processor.DEFAULT_BATCH_MAX_RECORDS`).
DECISIONS_PER_BATCH = 2_000
_ENDED = "ended"
#: Counts ``Context.count`` keeps: entities left for their transaction's end, and decided there.
DEFERRED_COUNT = "decisions_deferred"
DECIDED_COUNT = "deferred_decided"

_CAUSE_FIELDS = tuple(f.name for f in dataclasses.fields(Cause))
#: Seconds between two progress lines of a long run of deferred decisions (:class:`DecisionProgress`).
PROGRESS_EVERY_S = 5.0

log = logging.getLogger(__name__)


class DecisionProgress:
    """Says how a long run of deferred decisions goes, at most every :data:`PROGRESS_EVERY_S` seconds, and once
    more when it is over: a new user's worker decided a split transaction's entities for many minutes, and nothing
    said how far it was (a run shorter than that says nothing)."""

    def __init__(self, flow: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.flow = flow
        self.clock = clock
        self._began: float | None = None
        self._said_at = 0.0
        self._decided = 0
        self._said = False

    def decided(self, count: int, left: int) -> None:
        now = self.clock()
        if self._began is None:
            self._began, self._said_at, self._decided, self._said = now, now, 0, False
        self._decided += count
        if now - self._said_at >= PROGRESS_EVERY_S or (left == 0 and self._said):
            rate = self._decided / max(now - self._began, 1e-9)
            log.info("%s: deciding the entities a snapshot or a large source transaction left: %d decided in %.0f s "
                     "(%.0f a second), about %d left%s", self.flow, self._decided, now - self._began, rate, left,
                     f", about {left / rate:.0f} s more" if left and rate else "")
            self._said_at, self._said = now, True
        if left == 0:
            self._began = None


def cause_state(cause: Cause) -> list[Any]:
    """A cause as the store keeps it: its fields' values in order, tagged (:func:`~streams.flows.engine.values.
    to_store`)."""
    return [to_store(getattr(cause, name)) for name in _CAUSE_FIELDS]


def cause_of(state: list[Any]) -> Cause:
    return Cause(**{name: from_store(value) for name, value in zip(_CAUSE_FIELDS, state, strict=True)})


def cause_record(key: str, cause: Cause) -> Incoming:
    """The record a deferred decision that fails is dead-lettered as: where the entity's last change of the
    transaction was read (its value is not kept), keyed by the entity."""
    return Incoming(topic=cause.topic or "-", partition=cause.partition or 0,
                    offset=-1 if cause.offset is None else cause.offset, key=key.encode(), value=None,
                    timestamp_ms=int(cause.commit_time.timestamp() * 1000))


class Deferred:
    """The ``deferred`` store of one task, as the flow uses it."""

    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        self.store = store

    def defer(self, tx: str, touched: Mapping[str, Cause], *, fill: int = 0) -> None:
        """Leave the entities ``touched`` (each with its cause) for the end of transaction ``tx``. ``fill``: add
        them to the transaction's newest chunk while it holds fewer than that many (a snapshot's parts are one read
        each: a chunk apiece would be a store key per entity), else each part's entities make chunks of their own."""
        if not touched:
            return
        store = self.store
        meta = store.get(f"tx:{tx}") or {"chunks": 0, "next": 0}
        chunks = int(meta["chunks"])
        items = list(touched.items())
        left = int(meta.get("left", 0)) + len(items)
        if fill and chunks > int(meta["next"]):
            newest = store.get(f"chunk:{tx}:{chunks - 1}") or {"entities": []}
            entities = list(newest["entities"])
            if len(entities) + len(items) <= fill:
                entities += [[key, cause_state(cause)] for key, cause in items]
                store.put(f"chunk:{tx}:{chunks - 1}", {"entities": entities})
                store.put(f"tx:{tx}", {**meta, "left": left})
                return
        for at in range(0, len(items), CHUNK):
            store.put(f"chunk:{tx}:{chunks}",
                      {"entities": [[key, cause_state(cause)] for key, cause in items[at:at + CHUNK]]})
            chunks += 1
        store.put(f"tx:{tx}", {"chunks": chunks, "next": meta["next"], "left": left})

    def end(self, tx: str) -> bool:
        """Transaction ``tx`` has ended: its deferred entities are to be decided (:meth:`take`). False when it left
        none."""
        if self.store.get(f"tx:{tx}") is None:
            return False
        ended = self._ended()
        if tx not in ended:
            self.store.put(_ENDED, {"txs": [*ended, tx]})
        return True

    def take(self, budget: int) -> list[tuple[str, Cause]]:
        """The next deferred entities of ended transactions, whole chunks until ``budget`` is reached, taken out of
        the store, in the order their transactions ended and their parts came."""
        store = self.store
        txs = self._ended()
        if not txs:
            return []
        taken: list[tuple[str, Cause]] = []
        done = 0
        while done < len(txs) and len(taken) < budget:
            tx = txs[done]
            meta = store.get(f"tx:{tx}")
            at, chunks = (int(meta["next"]), int(meta["chunks"])) if meta else (0, 0)
            left = int(meta.get("left", 0)) if meta else 0
            if at < chunks:
                chunk = store.get(f"chunk:{tx}:{at}")
                store.put(f"chunk:{tx}:{at}", None)
                entities = (chunk or {}).get("entities", ())
                taken += [(str(key), cause_of(cause)) for key, cause in entities]
                left -= len(entities)
                at += 1
            if at < chunks:
                store.put(f"tx:{tx}", {"chunks": chunks, "next": at, "left": max(left, 0)})
            else:
                store.put(f"tx:{tx}", None)
                done += 1
        if done:
            store.put(_ENDED, {"txs": txs[done:]} if done < len(txs) else None)
        return taken

    def left(self) -> int:
        """About how many entities ended transactions still leave to decide (those deferred by an Isthmus that
        did not count them are not counted), for progress lines."""
        return sum(int((self.store.get(f"tx:{tx}") or {}).get("left", 0)) for tx in self._ended())

    def pending(self) -> bool:
        """Whether ended transactions still have entities to decide."""
        return bool(self._ended())

    def _ended(self) -> list[str]:
        ended = self.store.get(_ENDED)
        return list(ended["txs"]) if ended else []
