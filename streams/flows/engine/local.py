"""Running a flow's handler without Kafka: for unit tests of flow logic and for trying a flow by hand.

``LocalRun`` feeds records to the handler one by one with in-memory stores and collects what the
handler emitted and dead-lettered, in order. Each record runs through the engine's own per-record path
(:func:`~streams.flows.engine.staging.handle_record`): a record the handler rejects (or fails on) leaves no
output and no state, and is dead-lettered as the engine would.
A record of a topic that one of the flow's feeders reads (:attr:`~streams.flows.engine.api.FlowSpec.feeders`)
goes through that feeder first, as a worker runs them: the flow gets what the feeder emitted to its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.flows.engine.addressing import stages_of
from streams.flows.engine.api import FlowSpec, Incoming, Ticking, Waiting
from streams.flows.engine.staging import DeadLettered, Emitted, RecordContext, handle_record
from streams.flows.engine.stores import MemoryStore

__all__ = ["DeadLettered", "Emitted", "LocalRun"]


class LocalRun:
    """``flush_each_feed``: each ``feed`` is a batch (its objects written into the stores when it returns, as a
    commit would); False: the caller ends batches with :meth:`end_batch` (a benchmark's batches of many feeds)."""

    def __init__(self, flow: FlowSpec, *, flush_each_feed: bool = True) -> None:
        self.flow = flow
        self.flush_each_feed = flush_each_feed
        self.context = RecordContext(memory={name: MemoryStore(name) for name in flow.stores},
                                     stage=f"flow.{flow.name}", stages=stages_of(flow))
        self._offsets: dict[tuple[str, int], int] = {}
        self.feeders = [LocalRun(feeder) for feeder in flow.feeders]
        self._inputs = frozenset(flow.inputs)

    def record(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int = 0,
               timestamp_ms: int = 0, headers: tuple[tuple[str, bytes], ...] = ()) -> Incoming:
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return Incoming(topic=topic, partition=partition, offset=offset, key=key, value=value,
                        timestamp_ms=timestamp_ms, headers=headers)

    async def feed(self, records: Iterable[Incoming]) -> RecordContext:
        handler, context, inputs = self.flow.handler, self.context, self._inputs
        for record in records:
            if record.topic in inputs or not self.feeders:
                await handle_record(handler, record, context)
                context.handled()  # as the engine's loop: nothing of it can be undone any more
                continue
            for incoming in await self._fed(record):
                await handle_record(handler, incoming, context)
                context.handled()
        if self.flush_each_feed:
            self.end_batch()
        return self.context

    def end_batch(self) -> None:
        """What a batch's end does before its commit: objects kept for the batch are written into the stores."""
        self.context.flush()

    def tick(self, now_s: float = 0.0, hold_after_s: float = 300.0, *,
             read_to_end: Iterable[str] | None = None) -> Waiting:
        """The flow's tick (``FlowSpec.tick``) as a worker runs it between batches: what it emits is collected
        with the rest; returns what it says the flow holds back. Every record fed has been handled, so every
        input counts as read to its end (:class:`~streams.flows.engine.api.Ticking`) unless ``read_to_end``
        names the ones that are (a worker still behind on the others)."""
        if self.flow.tick is None:
            return Waiting()
        read = frozenset(self.flow.inputs if read_to_end is None else read_to_end)
        with self.context.isolated():
            waiting = self.flow.tick(self.context, Ticking(now_s=now_s, hold_after_s=hold_after_s, read_to_end=read))
        self.context.flush()
        return waiting

    async def _fed(self, record: Incoming) -> list[Incoming]:
        """``record`` itself, or what the feeder that reads its topic emitted to the flow's inputs."""
        feeder = next((f for f in self.feeders if record.topic in f.flow.inputs), None)
        if record.topic in self.flow.inputs or feeder is None:
            return [record]
        seen = len(feeder.context.emitted)
        await feeder.feed([record])
        return [self.record(e.topic, e.key, e.value, headers=tuple(e.headers)) for e in feeder.context.emitted[seen:]
                if e.topic in self.flow.inputs]
