"""The stock flow under LocalRun, with the commands it emitted decoded."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from stock_events import Rec
from support.tx_events import with_ends

from reference.topics import COMMANDS_CRM
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import DeadLettered, LocalRun
from streams.flows.stock import StockFlow


@dataclass
class StockHarness:
    flow: StockFlow
    schemas: SchemaStore
    run: LocalRun = field(init=False)
    seen: int = 0

    def __post_init__(self) -> None:
        self.run = LocalRun(self.flow.spec())

    def feed(self, *records: Rec) -> list[dict[str, Any]]:
        """Feed records in order, each change alone in its source transaction (followed by its END, when the flow
        reads the transaction topic); returns the commands they caused (Avro record with the payload parsed)."""
        ended = [r for r in with_ends([(r.topic, r.key, r.value) for r in records]) if r[0] in self.run.flow.inputs]
        asyncio.run(self.run.feed([self.run.record(topic, key, value) for topic, key, value in ended]))
        emitted = self.run.context.emitted[self.seen:]
        self.seen = len(self.run.context.emitted)
        commands = []
        for e in emitted:
            assert e.topic == COMMANDS_CRM and e.key is not None and e.value is not None
            record = dict(self.schemas.decode(e.value, "isthmus.canonical.Command").value)
            commands.append({**record, "payload": json.loads(record["payload"]), "key": e.key.decode()})
        return commands

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters
