"""The customer flow under LocalRun, with both systems modelled (see customer_events)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from customer_events import T0, Sent, Systems, decode_commands, decode_topic
from support.tx_events import one_transaction, with_ends

from reference.topics import CANONICAL_CUSTOMERS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.customers.state import StateCodec
from streams.flows.engine.local import DeadLettered, Emitted, LocalRun
from streams.flows.topics import AUDIT_CONFLICTS

SETTLED_AT = T0 + dt.timedelta(days=1)


@dataclass
class Harness:
    """The flow under LocalRun with both systems modelled: ``feed`` gives what one input caused,
    ``settle`` lets the sinks apply every command in order and feeds the echoes back until nothing moves."""

    flow: CustomerFlow
    schemas: SchemaStore
    systems: Systems = field(default_factory=Systems)
    run: LocalRun = field(init=False)
    outbox: list[Sent] = field(default_factory=list)
    #: Every record fed and every command emitted, in order (a replay feeds ``fed`` to a fresh flow).
    fed: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run = LocalRun(self.flow.spec())

    @property
    def emitted(self) -> list[Emitted]:
        return self.run.context.emitted

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters

    def feed(self, *records: tuple[str, bytes | None, bytes | None]) -> list[Sent]:
        """Process the records; returns the commands they caused (also queued for :meth:`settle`)."""
        return self._feed(with_ends(records))

    def feed_transaction(self, *records: tuple[str, bytes | None, bytes | None]) -> list[Sent]:
        """Process ``records`` (changes of one system) as one source transaction, its END last."""
        return self._feed(one_transaction(records))

    def feed_exactly(self, *records: tuple[str, bytes | None, bytes | None]) -> list[Sent]:
        """Process ``records`` as given, transaction topics' records among them (no END added)."""
        return self._feed(list(records))

    def _feed(self, records: list[tuple[str, bytes | None, bytes | None]]) -> list[Sent]:
        start = len(self.emitted)
        self.fed += records
        asyncio.run(self.run.feed([self.run.record(t, k, v) for t, k, v in records]))
        sent = decode_commands(self.emitted[start:], self.schemas)
        self.outbox += sent
        self.sent += sent
        return sent

    def settle(self, limit: int = 100) -> list[Sent]:
        """Apply queued commands one by one (each system in order) and feed their echoes; returns every
        command applied. Fails if the systems do not reach a fixed point within ``limit`` commands."""
        applied: list[Sent] = []
        while self.outbox:
            assert len(applied) < limit, f"no fixed point after {limit} commands: {[s.route for s in applied]}"
            sent = self.outbox.pop(0)
            applied.append(sent)
            for echo in self.systems.apply(sent):
                self.feed(echo)
        return applied

    def conflicts(self) -> list[Mapping[str, Any]]:
        return decode_topic(self.emitted, AUDIT_CONFLICTS, self.schemas)

    def canonical(self, number: str) -> Mapping[str, Any]:
        published = [r for r in decode_topic(self.emitted, CANONICAL_CUSTOMERS, self.schemas)
                     if r["customer_number"] == number]
        assert published, f"{number} was never published to {CANONICAL_CUSTOMERS}"
        return published[-1]

    def stored(self, number: str) -> Mapping[str, Any] | None:
        raw = self.run.context.memory["entities"].get_raw(number)  # the packed layout, as the state's JSON
        return None if raw is None else StateCodec(self.flow.config).decode(number, raw).to_json()
