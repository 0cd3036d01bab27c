"""One flow running in this process on the real stack, and a reader of what it produced.

The flow gets a name of its own (its consumer group, transactional ids and changelogs), and starts at the
current end of its inputs: it sees only the changes a test makes, not the stack's history. The data topics'
offsets are set before the transaction topic's, so a transaction committed meanwhile is either seen whole
or has its END skipped (then its changes wait, unused), never an END without its changes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from reference.topics import CRM_TRANSACTION, ERP_TRANSACTION
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from support.topics import Record, TopicReader
from support.waiting import eventually


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def start_at_end(bootstrap: str, group: str, topics: Sequence[str]) -> None:
    """Commit ``group``'s offsets at the end of ``topics``: data topics first, transaction topics last."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             isolation_level="read_committed")
    try:
        last = [t for t in topics if t in (CRM_TRANSACTION, ERP_TRANSACTION)]
        for batch in ([t for t in topics if t not in last], last):
            tps = [tp for t in batch for tp in _partitions(consumer, t)]
            if tps:
                ends = consumer.end_offsets(tps)
                consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in tps})
    finally:
        consumer.close()


class RunningFlow:
    """``with RunningFlow(spec, bootstrap, schemas):`` the flow processes until the block ends, from the end of
    its inputs as of the start; with ``start="beginning"``, from their beginning (a test's own input topics,
    written before the flow starts)."""

    def __init__(self, spec: FlowSpec, bootstrap: str, schemas: SchemaStore, *,
                 start: Literal["end", "beginning"] = "end") -> None:
        self.spec = spec
        self.bootstrap = bootstrap
        self.start = start
        self.processor = FlowProcessor(spec, EngineSettings(bootstrap_servers=bootstrap, worker_id="flow-test"),
                                       schemas)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"flow-{spec.name}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.processor.run(self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by __enter__/__exit__
            self.error = exc

    def __enter__(self) -> RunningFlow:
        self.processor_topics_exist()
        if self.start == "end":
            start_at_end(self.bootstrap, self.spec.name, self.spec.inputs)
        self._thread.start()
        def assigned() -> bool:
            assert self.error is None, f"flow {self.spec.name} failed to start: {self.error!r}"
            return self.processor.ready

        eventually(f"flow {self.spec.name} assigned its inputs", assigned, timeout=90, every=0.2)
        return self

    def processor_topics_exist(self) -> None:
        asyncio.run(self.processor.ensure_topics())

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), f"flow {self.spec.name} did not stop"
        if kind is None:
            assert self.error is None, f"flow {self.spec.name} failed: {self.error!r}"


@dataclass(frozen=True)
class Out:
    topic: str
    key: str | None
    value: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.value["payload"])
        return parsed


class Watch(TopicReader[Out]):
    """Records (Avro single-object, decoded; tombstones left out) appearing on ``topics`` after the watch was
    made, read_committed."""

    def __init__(self, bootstrap: str, topics: Iterable[str], schemas: SchemaStore) -> None:
        def decode(record: Record) -> Out | None:
            if record.value is None:
                return None
            return Out(record.topic, record.text_key, dict(schemas.decode(record.value).value))

        super().__init__(bootstrap, topics, decode, start="end")

    def of(self, key: str, topic: str | None = None) -> list[Out]:
        """Records keyed ``key``; a command produced again (same idempotency key: another worker running the
        same flow on the shared stack, say) counts once, as its sink applies it once."""
        found, keys = [], set()
        for o in self.seen:
            if o.key != key or (topic is not None and o.topic != topic):
                continue
            idempotency_key = o.value.get("idempotency_key")
            if idempotency_key is None or idempotency_key not in keys:
                found.append(o)
                keys.add(idempotency_key)
        return found
