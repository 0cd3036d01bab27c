"""Parked records held visibly: a look-up that does not arrive is a ``Hold`` with its cause, not a silent wait.

A flow parks a change whose required look-up is not known yet (:class:`~streams.flows.parking.ParkingLot`).
Most waits last a moment (a contact read before its customer); one that lasts longer than the worker's
``ISTHMUS_PARKED_HOLD_AFTER_S`` is announced: the flow's tick (``FlowSpec.tick``) writes one ``Hold`` record
(state ``held``, cause ``waiting_for``, the look-up key, where the first waiting record was read) on
``isthmus.holds`` and marks the lot's index entry as announced, in one transaction; when the look-up arrives
and the records go on, one ``released`` record follows, in the transaction of the change that released them.
A wait is thus announced once, however many batches or ticks see it. The hold's key is
``<flow>:<waiting for>``: two flows waiting for the same record hold it each under its own key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, Ticking, Waiting
from streams.flows.parking import ParkingLot, waiting_count
from streams.flows.topics import HOLDS
from streams.flows.topics import topic as prefixed

HOLD_SCHEMA = "isthmus.canonical.Hold"
#: The Hold's cause for a record parked for a look-up.
WAITING_FOR = "waiting_for"


class ParkedHolds:
    """The holds of ``flow``'s parking lots (its stores named in ``stores``), written on ``topic``; ``fix``: what a
    hold of a wait for a look-up key tells to do, when the flow knows better than the general advice (None)."""

    def __init__(self, *, flow: str, schemas: SchemaStore, stores: tuple[str, ...], topic: str | None = None,
                 fix: Callable[[str], str | None] | None = None) -> None:
        self.flow = flow
        self.schemas = schemas
        self.stores = stores
        self.topic = topic or prefixed(HOLDS)
        self.fix = fix

    def lot(self, ctx: Context, store: str) -> ParkingLot:
        """The parking lot in ``store`` that says when an announced wait is over."""
        return ParkingLot(ctx.stores[store], on_release=lambda waiting_for, index: self._emit(
            ctx, waiting_for, index, held=False, at=dt.datetime.now(dt.UTC)))

    def tick(self, ctx: Context, ticking: Ticking) -> Waiting:
        """Announce each wait older than ``ticking.hold_after_s`` not yet announced; returns what the lots hold."""
        now, hold_after_s = ticking.now_s, ticking.hold_after_s
        waiting = Waiting()
        for name in self.stores:
            store = ctx.stores[name]
            for waiting_for, index in ParkingLot(store).waiting():
                since = index.get("since")
                if since is None:  # parked before waits were timed: it waits from now on
                    since = now
                    index = {**index, "since": since}
                    store.put(waiting_for, index)
                waiting += Waiting(records=waiting_count(index), oldest_since_s=float(since))
                if not index.get("announced") and now - float(since) >= hold_after_s:
                    self._emit(ctx, waiting_for, index, held=True, at=dt.datetime.fromtimestamp(float(since), dt.UTC))
                    store.put(waiting_for, {**index, "announced": True})
        return waiting

    def _emit(self, ctx: Context, waiting_for: str, index: Mapping[str, Any], *, held: bool,
              at: dt.datetime) -> None:
        fix = self.fix(waiting_for) if held and self.fix is not None else None
        value = hold_record(flow=self.flow, waiting_for=waiting_for, index=index, held=held, at=at, fix=fix)
        ctx.emit(self.topic, key=hold_key(self.flow, waiting_for), value=self.schemas.encode(HOLD_SCHEMA, value))


def hold_key(flow: str, waiting_for: str) -> str:
    return f"{flow}:{waiting_for}"


def hold_record(*, flow: str, waiting_for: str, index: Mapping[str, Any], held: bool,
                at: dt.datetime, fix: str | None = None) -> dict[str, Any]:
    """The Avro ``Hold`` of a wait for ``waiting_for`` (its lot's index entry), held or released; ``fix``: what to
    do, in place of checking that the source row exists and is captured."""
    count = waiting_count(index)
    first_at = index.get("first_at")
    since = dt.datetime.fromtimestamp(float(index.get("since") or at.timestamp()), dt.UTC)
    if held:
        message = (f"{count} record(s) wait for {waiting_for}, which {flow} does not know, since "
                   f"{since.isoformat(timespec='seconds')} (the first: {first_at or 'unknown'}); they go on when it "
                   f"arrives: {fix or 'check that its source row exists and is captured'}")
    else:
        message = f"{waiting_for} arrived: the {count} record(s) waiting for it go on"
    return {"entity_key": hold_key(flow, waiting_for), "entity_type": "", "state": "held" if held else "released",
            "cause": WAITING_FOR, "message": message, "field": None, "status": None, "flow": flow, "origin": "",
            "target": "", "origin_status": None, "command_id": None, "at": at, "waiting_for": waiting_for,
            "parked": first_at}
