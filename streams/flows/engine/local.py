"""Running a flow's handler without Kafka: for unit tests of flow logic and for trying a flow by hand.

``LocalRun`` feeds records to the handler one by one with in-memory stores and collects what the
handler emitted and dead-lettered, in order. It is the same ``Context`` contract the engine gives. A record of
a topic that one of the flow's feeders reads (:attr:`~streams.flows.engine.api.FlowSpec.feeders`) goes through
that feeder first, as a worker runs them: the flow gets what the feeder emitted to its inputs.
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
        self.feeders = [LocalRun(feeder) for feeder in flow.feeders]

    def record(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int = 0,
               timestamp_ms: int = 0, headers: tuple[tuple[str, bytes], ...] = ()) -> Incoming:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return Incoming(topic=topic, partition=partition, offset=offset, key=key, value=value,
                        timestamp_ms=timestamp_ms, headers=headers)

    async def feed(self, records: Iterable[Incoming]) -> LocalContext:
        for record in records:
            for incoming in await self._fed(record):
                result = self.flow.handler(incoming, self.context)
                if inspect.isawaitable(result):
                    await result
        return self.context

    async def _fed(self, record: Incoming) -> list[Incoming]:
        """``record`` itself, or what the feeder that reads its topic emitted to the flow's inputs."""
        feeder = next((f for f in self.feeders if record.topic in f.flow.inputs), None)
        if record.topic in self.flow.inputs or feeder is None:
            return [record]
        seen = len(feeder.context.emitted)
        await feeder.feed([record])
        return [self.record(e.topic, e.key, e.value, headers=e.headers) for e in feeder.context.emitted[seen:]
                if e.topic in self.flow.inputs]
