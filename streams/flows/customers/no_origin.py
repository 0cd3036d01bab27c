"""An entity that only systems that are no origin hold: created nowhere, ended by nothing, so held visibly.

An entity flow creates an entity in the other written systems once it exists in an origin (flows/README.md,
``origin``). A row of a system that is no origin, whose entity no origin has, is therefore created nowhere else, and
nothing ends it where it is: a new user's trial changed a reservation's key in its stock system (``UPDATE Order SET
res_id = <new uuid>``, the stock system no origin of the flow); the old key's entity was made again from the order
system, as it should be, but the new key's, which only the stock system held, stayed there for good, reserving stock
for an order that does not exist, with nothing said (a canonical record published, no WARNING, no hold, no dead
letter, nothing in ``isthmus status``).

Such an entity is now held: when a decision finds it active, held by a system that is no origin, and neither held by
an origin nor being created in one (:func:`no_origin_has`), it is remembered (on the entity, and by key in the
``no_origin`` store with when it was first found so); the flow's tick holds it once it has been so for the
worker's ``ISTHMUS_PARKED_HOLD_AFTER_S``, as parked records are: a ``Hold`` (cause ``no_origin``, keyed
``<flow>:no_origin:<key>``) on ``isthmus.holds``, so that ``isthmus status`` counts it until it is resolved, a
WARNING naming the entity, the system and the fixes, and a count (:data:`HELD_COUNT`). Once per entity, however
many changes it gets. Most such states last a moment and are no fault: the first sync of data both systems hold
already reads one system's rows before the other's (README.md, "Data both systems hold already"), a non-origin's
row of an entity before the origin's; those are never held, as the origin's row arrives within the wait. The hold
is released when an origin gets the entity (its row created there; or, the system made an origin, the entity's next
change, a snapshot's read of its row, which creates it in the others), when the rows are deleted, or when the entity
ends (``active`` false).

Not held: an entity ended (its ``active`` false), and, in a flow without ``active``, one an origin had and deleted
(nothing ends an entity there, which the flow says when built and when it decides the delete:
:mod:`~streams.flows.customers.ignored`; ``deletes: ignore`` accepts it knowingly).

The WARNINGs of one tick are said in full for the first :data:`SAID_PER_TICK` entities, the rest in one line with
their number (each has its Hold with the whole message), so a system with many rows no origin has (accounts made by
hand in an ERP) logs a bounded number of lines, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Context, Ticking
from streams.flows.engine.objects import ObjectView
from streams.flows.parked import HOLD_SCHEMA

log = logging.getLogger(__name__)

#: The Hold's cause, and the store of the entities that wait to be held, by key.
NO_ORIGIN = "no_origin"
#: Counted per entity held because only systems that are no origin hold it (``isthmus_flow_events_total``).
HELD_COUNT = "held_by_no_origin"
#: The entities of one tick whose WARNING is said in full; the rest are said in one line.
SAID_PER_TICK = 10
#: The most entities one tick holds (their Holds are written in the tick's transaction); more wait for the next.
HELD_PER_TICK = 1000
#: What :attr:`CustomerState.no_origin` says: found so, waiting in the store; held (announced, out of the store).
WAITING, HELD = "waiting", "held"


def hold_key(flow: str, key: str) -> str:
    """The Hold's key: one per flow and entity."""
    return f"{flow}:{NO_ORIGIN}:{key}"


def no_origin_has(state: CustomerState) -> tuple[str, ...]:
    """The systems that are no origin and hold the entity (a row of the link's there), when no origin does and
    none is being sent its create, the entity active; () when it is not so, or when the flow names no ``active``
    and an origin had the entity and deleted it (:mod:`~streams.flows.customers.ignored` says that)."""
    config = state.config
    origins = config.origins
    mirrors = state.mirrors
    for origin in origins:  # a loop, not any() of a generator: asked at every decision
        if origin in state.creating or (origin in mirrors and mirrors[origin].present):
            return ()  # the usual case, told first
    holders = tuple(name for name, mirror in mirrors.items() if mirror.present and name not in origins)
    if not holders or not state.active or (config.active is None and _an_origin_had_it(state)):
        return ()
    return holders


def _an_origin_had_it(state: CustomerState) -> bool:
    """Did a row of an origin give the entity a value (of its record or its link)?"""
    origins = state.config.origins
    return any(stamp.system in origins for stamps in (state.provenance, state.xref_provenance)
               for stamp in stamps.values())


@dataclass(frozen=True, kw_only=True)
class NoOriginHolds:
    """The entities of flow ``flow`` that no origin has: remembered when decided so, held by the tick after the
    wait, released when it is over; Holds on ``topic``."""

    flow: str
    config: EntityConfig
    schemas: SchemaStore
    topic: str

    def decided(self, ctx: Context, state: CustomerState, at: dt.datetime) -> bool:
        """``state`` was decided at ``at``: remember it when no origin has it now, forget it (releasing its Hold)
        when that is over; whether its state changed (it must be written)."""
        holders = no_origin_has(state)
        if holders and state.no_origin is None:
            state.no_origin = WAITING
            ctx.stores[NO_ORIGIN].put(state.customer_number, {"since": at.timestamp()})
            return True
        if holders or state.no_origin is None:
            return False
        if state.no_origin == WAITING:
            ctx.stores[NO_ORIGIN].put(state.customer_number, None)
        else:
            message = self._over(state)
            log.info("%s: %s", self.flow, message)
            self._emit(ctx, state, held=False, message=message, at=at)
        state.no_origin = None
        return True

    def tick(self, ctx: Context, ticking: Ticking, entities: ObjectView[CustomerState]) -> bool:
        """Hold each entity that no origin has had for ``ticking.hold_after_s``; True when more are due than one
        tick holds (:data:`HELD_PER_TICK`)."""
        store = ctx.stores[NO_ORIGIN]
        now, after = ticking.now_s, ticking.hold_after_s
        due = [(key, float(entry["since"])) for key, entry in store.items()
               if isinstance(entry, dict) and now - float(entry["since"]) >= after]
        said: list[str] = []
        for key, since in due[:HELD_PER_TICK]:
            store.put(key, None)
            state = entities.get(key)
            holders = no_origin_has(state)
            if not holders:  # no decision found it over (never so: every decision looks); nothing to hold
                state.no_origin = None
                entities.put(key, state)
                continue
            state.no_origin = HELD
            entities.put(key, state)
            message = self._held(state, holders, dt.datetime.fromtimestamp(since, dt.UTC))
            self._emit(ctx, state, held=True, message=message, at=dt.datetime.fromtimestamp(since, dt.UTC))
            ctx.count(HELD_COUNT)
            said.append(message)
        for message in said[:SAID_PER_TICK]:
            log.warning("%s: %s; held (cause %s), counted as %s (isthmus_flow_events_total)", self.flow, message,
                        NO_ORIGIN, HELD_COUNT)
        if len(said) > SAID_PER_TICK:
            log.warning("%s: %d more %ss that only systems that are no origin hold, and no origin (%s), are held "
                        "the same way: created nowhere else, ended by nothing there; each is a Hold (cause %s) on %s "
                        "with its fix, `isthmus status` counts them", self.flow, len(said) - SAID_PER_TICK,
                        self.config.record.target.rpartition(".")[2], " and ".join(self.config.origins), NO_ORIGIN,
                        self.topic)
        return len(due) > HELD_PER_TICK

    def _held(self, state: CustomerState, holders: tuple[str, ...], since: dt.datetime) -> str:
        config = self.config
        origins = config.origins
        record = config.record.target.rpartition(".")[2]
        shown = []
        for name in holders:  # with its id there, where the link has it
            role = config.written.get(name)
            held = state.xref.get(role.id) if role is not None and role.id is not None else None
            shown.append(name if role is None or held is None else f"{name} ({role.id} {held})")
        systems = " and ".join(holders)
        holds = "holds" if len(holders) == 1 else "hold"
        origin = " or ".join(origins)
        return (f"{' and '.join(shown)} {holds} {record} {state.customer_number} that no origin "
                f"({', '.join(origins)}) has, since {since.isoformat(timespec='seconds')}: {systems} "
                f"{'is' if len(holders) == 1 else 'are'} no origin of {self.flow}, so the entity is created nowhere "
                f"else and nothing ends it there. Fix: delete the row in {systems}, create it in {origin} (under "
                f"the same {config.key}: the origin's row links it), or make {systems} an origin (`origin: "
                f"[{', '.join((*origins, *holders))}]`; flows/README.md, `origin` and \"An entity no origin has\"); "
                "the hold is released then")

    def _over(self, state: CustomerState) -> str:
        config = self.config
        key = f"{config.record.target.rpartition('.')[2]} {state.customer_number}"
        if not state.active:
            return f"{key} has ended ({config.active} false): held by no origin no more"
        having = [o for o in config.origins if o in state.mirrors and state.mirrors[o].present]
        sending = [o for o in config.origins if o in state.creating and o not in having]
        if having or sending:
            said = [f"{' and '.join(having)} {'has' if len(having) == 1 else 'have'} it now"] if having else []
            if sending:
                said.append(f"its create in {' and '.join(sending)} is on its way")
            return f"{key}: an origin holds it: {'; '.join(said)}; it goes on"
        if not any(m.present for n, m in state.mirrors.items() if n not in config.origins):
            return f"{key}: its rows are gone from every system that is no origin: nothing is left to hold"
        return f"{key}: held by no origin no more"

    def _emit(self, ctx: Context, state: CustomerState, *, held: bool, message: str, at: dt.datetime) -> None:
        config = self.config
        key = hold_key(self.flow, state.customer_number)
        value: dict[str, Any] = {
            "entity_key": key, "entity_type": config.record.target, "state": "held" if held else "released",
            "cause": NO_ORIGIN, "message": message, "field": None, "status": None, "flow": self.flow,
            "origin": ", ".join(n for n, m in state.mirrors.items() if m.present and n not in config.origins),
            "target": ", ".join(config.origins), "origin_status": None, "command_id": None,
            "at": at.astimezone(dt.UTC), "waiting_for": None, "parked": None}
        ctx.emit(self.topic, key=key, value=self.schemas.encode(HOLD_SCHEMA, value))
