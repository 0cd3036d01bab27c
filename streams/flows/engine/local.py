"""Running a flow's handler without Kafka: for unit tests of flow logic and for trying a flow by hand.

``LocalRun`` feeds records to the handler one by one with in-memory stores and collects what the
handler emitted and dead-lettered, in order. Each record runs through the engine's own per-record path
(:func:`~streams.flows.engine.staging.handle_record`): a record the handler rejects (or fails on) leaves no
output and no state, and is dead-lettered as the engine would.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.flows.engine.api import FlowSpec, Incoming
from streams.flows.engine.staging import DeadLettered, Emitted, RecordContext, handle_record
from streams.flows.engine.stores import MemoryStore

__all__ = ["DeadLettered", "Emitted", "LocalRun"]


class LocalRun:
    def __init__(self, flow: FlowSpec) -> None:
        self.flow = flow
        self.context = RecordContext(memory={name: MemoryStore(name) for name in flow.stores},
                                     stage=f"flow.{flow.name}")
        self._offsets: dict[tuple[str, int], int] = {}

    def record(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int = 0,
               timestamp_ms: int = 0) -> Incoming:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return Incoming(topic=topic, partition=partition, offset=offset, key=key, value=value,
                        timestamp_ms=timestamp_ms)

    async def feed(self, records: Iterable[Incoming]) -> RecordContext:
        for record in records:
            await handle_record(self.flow.handler, record, self.context)
        return self.context
