"""The order-to-cash flow under LocalRun, fed with records built by order_events, with what it emitted decoded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from order_events import Rec

from reference.topics import COMMANDS_CRM, COMMANDS_ERP
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import DeadLettered, Emitted, LocalRun
from streams.flows.files import FLOWS_DIR, FlowFile, load_flow_files
from streams.flows.orders import OrdersFlow
from streams.flows.topics import RECONCILED_ORDERS


def orders_flow_file() -> FlowFile:
    """The reference flows/orders.yaml: its ``document:`` section is what the tests run."""
    (found,) = [f for f in load_flow_files(FLOWS_DIR, env={}) if f.name == "isthmus-orders"]
    return found


@dataclass(frozen=True)
class Sent:
    """A decoded command: the Avro record and its parsed payload."""

    topic: str
    key: str
    record: dict[str, Any]
    payload: dict[str, Any]

    @property
    def kind(self) -> tuple[str, str, str]:
        return self.record["target"], self.record["payload_type"].rpartition(".")[2], self.record["operation"]


@dataclass
class Harness:
    flow: OrdersFlow
    schemas: SchemaStore
    run: LocalRun = field(init=False)
    seen: int = 0

    def __post_init__(self) -> None:
        self.run = LocalRun(self.flow.spec())

    def feed(self, *records: Rec | Iterable[Rec]) -> list[Emitted]:
        """Feed records (or lists of them) in order; returns what they emitted."""
        flat: list[Rec] = []
        for item in records:
            flat.extend([item] if isinstance(item, Rec) else item)
        incoming = [self.run.record(r.topic, r.key, r.value) for r in flat]
        asyncio.run(self.run.feed(incoming))
        emitted = self.run.context.emitted[self.seen:]
        self.seen = len(self.run.context.emitted)
        return emitted

    def commands(self, emitted: Iterable[Emitted] | None = None) -> list[Sent]:
        chosen = self.run.context.emitted if emitted is None else emitted
        sent = []
        for e in chosen:
            if e.topic in (COMMANDS_CRM, COMMANDS_ERP):
                assert e.key is not None and e.value is not None
                record = dict(self.schemas.decode(e.value, "isthmus.canonical.Command").value)
                sent.append(Sent(e.topic, e.key.decode(), record, json.loads(record["payload"])))
        return sent

    def orders(self, emitted: Iterable[Emitted] | None = None) -> list[dict[str, Any]]:
        """The reconciled orders published (the customer-360 view's orders part, :mod:`streams.flows.view`)."""
        chosen = self.run.context.emitted if emitted is None else emitted
        return [dict(self.schemas.decode(e.value, "isthmus.canonical.SalesOrder").value)
                for e in chosen if e.topic == RECONCILED_ORDERS and e.value is not None]

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters

    def store(self, name: str) -> dict[str, Any]:
        return dict(self.run.context.memory[name].items())
