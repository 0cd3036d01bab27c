"""A source table truncated: what every flow does with Debezium's truncate event (op ``t``), in one place.

A truncate names a table, not its rows, so it says nothing of which entities the rows made: the flows keep the
rows of some tables only, a parent row's truncate says nothing of its children's, and ``TRUNCATE`` then a reload
in one transaction would end and make again every entity of the table. Isthmus therefore propagates no truncate:
the records its rows made stay in the flows' state and in every target, as they were. What it must not do is
drop the event unseen. A flow that reads one calls :meth:`Truncates.seen`, which

- logs a WARNING naming the flow, the table, where the event was read and what to do;
- counts the flow event ``truncates`` (``isthmus_flow_events_total{flow, event="truncates"}``), with the record;
- writes a ``Hold`` on ``isthmus.holds``, cause ``truncated``, keyed ``<flow>:truncate:<topic>`` (one key per flow
  and table; a later truncate of it writes it again), which the dashboard's held list, ``isthmus topics tail
  isthmus.holds`` and every reader of that topic see. A truncate is no wait that ends, so no ``released`` follows.

A flow calls it where it would use the change (after its transaction join, whose counts include the truncate).
Debezium sends a truncate only when the connector's ``skipped.operations`` leaves ``t`` out; its default skips
truncates, and ``isthmus connectors validate`` warns of that. README.md, "TRUNCATE", is the user's side.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent
from streams.flows.engine.api import Context, Incoming
from streams.flows.parked import HOLD_SCHEMA
from streams.flows.topics import HOLDS
from streams.flows.topics import topic as prefixed
from streams.systems import Systems

log = logging.getLogger(__name__)

#: The Hold's cause for a truncated source table.
TRUNCATED = "truncated"
#: The flow event counted for each truncate read.
COUNTED = "truncates"
#: Where the user reads what to do.
GUIDE = 'README.md, "TRUNCATE"'


def hold_key(flow: str, topic: str) -> str:
    """The Hold's key: one per flow and truncated table (its change topic)."""
    return f"{flow}:truncate:{topic}"


class Truncates:
    """What ``flow`` does with a truncate of a table it reads: say so (log, count, hold) and change nothing.
    ``systems``: to name the table as its system file does; ``topic``: where holds go (default ``isthmus.holds``,
    under the topic prefix)."""

    def __init__(self, *, flow: str, schemas: SchemaStore, systems: Systems, topic: str | None = None) -> None:
        self.flow = flow
        self.schemas = schemas
        self.systems = systems
        self.topic = topic or prefixed(HOLDS)

    def seen(self, ctx: Context, record: Incoming, event: ChangeEvent) -> None:
        """``event``, a truncate read from ``record``: logged, counted and held; the flow's state is not touched."""
        found = self.systems.by_topic(record.topic)
        origin = found[0].name if found is not None else ""
        source = event.source
        table = (f"{origin}.{found[1]}" if found is not None
                 else ".".join(p for p in (source.schema or source.db, event.table) if p) or record.topic)
        key = hold_key(self.flow, record.topic)
        message = (f"{record.position}: table {table} was truncated (committed "
                   f"{event.commit_time.isoformat(timespec='seconds')}, {source.position}); Isthmus propagates no "
                   f"truncate, so every record its rows made stays as it was in {self.flow}'s state and in every "
                   "system it was synced to (nothing was deleted or deactivated); fix: end those records by hand in "
                   "each target, or insert the rows that are gone again and DELETE them so that each delete flows, "
                   f"as {GUIDE} says")
        log.warning("%s: %s (held as %s on %s)", self.flow, message, key, self.topic)
        ctx.count(COUNTED)
        value: dict[str, Any] = {
            "entity_key": key, "entity_type": "", "state": "held", "cause": TRUNCATED, "message": message,
            "field": None, "status": None, "flow": self.flow, "origin": origin, "target": "", "origin_status": None,
            "command_id": None, "at": event.commit_time.astimezone(dt.UTC), "waiting_for": None,
            "parked": record.position}
        ctx.emit(self.topic, key=key, value=self.schemas.encode(HOLD_SCHEMA, value))
