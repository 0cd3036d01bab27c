"""Running a flow's handler without Kafka: for unit tests of flow logic and for trying a flow by hand.

``LocalRun`` feeds records to the handler one by one with in-memory stores and collects what the
handler emitted and dead-lettered, in order. It is the same ``Context`` contract the engine gives.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streams.flows.engine.api import FlowSpec, Incoming, Store
from streams.flows.engine.stores import MemoryStore


@dataclass(frozen=True, kw_only=True)
class Emitted:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, kw_only=True)
class DeadLettered:
    record: Incoming
    reason: str
    stage: str


def key_bytes(key: bytes | str | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


@dataclass
class LocalContext:
    memory: dict[str, MemoryStore]
    emitted: list[Emitted] = field(default_factory=list)
    dead_letters: list[DeadLettered] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def stores(self) -> Mapping[str, Store]:
        return self.memory

    def emit(self, topic: str, *, key: bytes | str | None, value: bytes | None,
             headers: Mapping[str, bytes] | None = None) -> None:
        self.emitted.append(Emitted(topic=topic, key=key_bytes(key), value=value,
                                    headers=tuple((headers or {}).items())))

    def dead_letter(self, record: Incoming, *, reason: str, stage: str) -> None:
        self.dead_letters.append(DeadLettered(record=record, reason=reason, stage=stage))

    def count(self, event: str, n: int = 1) -> None:
        self.counts[event] += n


class LocalRun:
    def __init__(self, flow: FlowSpec) -> None:
        self.flow = flow
        self.context = LocalContext(memory={name: MemoryStore(name) for name in flow.stores})
        self._offsets: dict[tuple[str, int], int] = {}

    def record(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int = 0,
               timestamp_ms: int = 0) -> Incoming:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return Incoming(topic=topic, partition=partition, offset=offset, key=key, value=value,
                        timestamp_ms=timestamp_ms)

    async def feed(self, records: Iterable[Incoming]) -> LocalContext:
        for record in records:
            result = self.flow.handler(record, self.context)
            if inspect.isawaitable(result):
                await result
        return self.context
