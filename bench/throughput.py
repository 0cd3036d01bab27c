"""Stream-stage throughput: the engine (exactly-once on, and off) against a plain aiokafka loop.

The same N pre-produced records (small JSON values over a fixed set of keys) are read by each contender
from the beginning of one input topic. The engine runs a stateful pass-through flow: every record is
decoded, stored under its key (so every batch also writes the store's changelog) and emitted. The raw
loop does the same work by hand with no transaction (each value decoded and kept, encoded, as its key's
latest; each record produced; each key a batch changed written once to a state topic, as a changelog), in
two forms: offsets auto-committed with sends awaited only at the end, and waiting for each batch's sends
then committing its offsets (the engine's loop shape). The baseline of the ratio is the faster of the two
in the run, so the ratio is what the engine costs over doing the flow's work by hand with aiokafka's
ordinary ``send``. A third form ("raw_batched") produces through the engine's own record batches, of its size
(``send_batched``); ``ratio_eos_to_batched`` is the strict ratio: what transactions and the engine's
per-record bookkeeping cost over the best hand-written loop. Until issue 17 the
raw loop only copied records (half the records produced, no decoding): that loop still runs ("raw_copy",
per-batch wait+commit) and ``ratio_eos_to_copy`` is the old ratio, for comparison with older figures.
Both read with the engine's fetch size and batch size and produce with ``acks=all`` and idempotence.
"Exactly-once off" is the engine's own batch loop with plain (non-transactional) producers and consumer
offset commits: a benchmark-only variant defined here, not a setting of the engine.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.exceptions import BenchError
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming, encode_json
from streams.flows.engine.batches import KeyPartitioner, OutRecord, send_batched
from streams.flows.engine.processor import (
    DEFAULT_BATCH_MAX_RECORDS,
    DEFAULT_MAX_PARTITION_FETCH_BYTES,
    RECORD_BATCH_BYTES,
    EngineSettings,
    FlowProcessor,
    _Task,
)
from streams.kafka.topics import TopicSpec, ensure_topics

BATCH = DEFAULT_BATCH_MAX_RECORDS


@dataclass(frozen=True, kw_only=True)
class Run:
    name: str
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def value_of(i: int) -> bytes:
    return json.dumps({"id": i, "name": f"customer {i}", "credit_limit": "1000.00", "active": True},
                      separators=(",", ":")).encode()


async def produce(bootstrap: str, topic: str, records: int, keys: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, acks=1)
    await producer.start()
    try:
        futures = []
        for i in range(records):
            futures.append(await producer.send(topic, key=f"k{i % keys}".encode(), value=value_of(i)))
            if len(futures) >= 10_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_loop(bootstrap: str, source: str, target: str, records: int, timeout_s: float, *,
                   wait_per_batch: bool, state_topic: str | None = None, batched: bool = False) -> Run:
    """Consume ``records`` from ``source`` and produce each to ``target``, with no transaction.

    ``wait_per_batch``: wait for every send of a batch, then commit its offsets (at-least-once, the shape of
    the engine's loop). Otherwise offsets are auto-committed, sends never awaited until
    the end (at-most/at-least-once by accident).

    ``state_topic``: do by hand the work the engine's flow does besides producing: decode each value, keep it
    (encoded as a store keeps it) as its key's latest, and write each key the batch changed to ``state_topic``
    once per batch, as the engine writes a store's changelog. Without it the loop only copies records: the
    engine then produces twice the records the loop does, and decodes and encodes every value besides.

    ``batched``: produce a batch's records a record batch per topic-partition (``batches.send_batched``, as the
    engine does, with the engine's record-batch size) instead of ``send`` per record, aiokafka's ordinary API,
    which costs several µs a record.
    """
    group = f"{target}-group"
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=not wait_per_batch, auto_offset_reset="earliest",
                                max_poll_records=BATCH, max_partition_fetch_bytes=DEFAULT_MAX_PARTITION_FETCH_BYTES)
    # The batched form produces as the engine does, its record batches as large (aiokafka sends one produce
    # request at a time per broker, a record batch per partition in it: with the default 16 KiB, ~20 round trips
    # for a 2,000-record batch); the other forms keep aiokafka's defaults, as an ordinary loop would.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                **({"max_batch_size": RECORD_BATCH_BYTES} if batched else {}))
    await consumer.start()
    await producer.start()
    try:
        done = 0
        began = None
        deadline = time.monotonic() + timeout_s
        futures: list[asyncio.Future[object]] = []
        latest: dict[str, bytes | None] = {}
        partitioner = KeyPartitioner()
        while done < records:
            if time.monotonic() > deadline:
                raise BenchError(f"the raw loop moved {done} of {records} records in {timeout_s:.0f}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            if not batch:
                continue
            began = began or time.perf_counter()
            offsets: dict[TopicPartition, int] = {}
            changed: dict[str, bytes | None] = {}
            out: list[OutRecord] = []
            for tp, messages in batch.items():
                for m in messages:
                    if state_topic is not None:
                        key = (m.key or b"").decode()
                        latest[key] = changed[key] = encode_json(json.loads(m.value or b"{}"))
                    if batched:
                        out.append((target, None, m.key, m.value, []))
                    else:
                        futures.append(await producer.send(target, key=m.key, value=m.value))
                offsets[tp] = messages[-1].offset + 1
                done += len(messages)
            if state_topic is not None:
                for key, raw in changed.items():
                    if batched:
                        out.append((state_topic, 0, key.encode(), raw, []))
                    else:
                        futures.append(await producer.send(state_topic, key=key.encode(), value=raw))
            if out:
                futures += await send_batched(producer, out, partitioner)
            if wait_per_batch:
                await asyncio.gather(*futures)
                futures.clear()
                await consumer.commit(offsets)
        await asyncio.gather(*futures)
        name = "raw loop, per-batch wait+commit" if wait_per_batch else "raw loop, auto-commit"
        name += ", record batches" if batched else ""
        return Run(name=name if state_topic is None else f"{name}, with the flow's work",
                   records=done, seconds=time.perf_counter() - (began or 0))
    finally:
        await producer.stop()
        await consumer.stop()


def pass_through(output: str, first_seen: list[float]) -> Callable[[Incoming, Context], None]:
    """The benchmark's flow; notes when it saw its first record in ``first_seen`` (the clock's start)."""

    def handle(record: Incoming, ctx: Context) -> None:
        if not first_seen:
            first_seen.append(time.perf_counter())
        value = json.loads(record.value or b"{}")
        ctx.stores["latest"].put((record.key or b"").decode(), value)
        ctx.emit(output, key=record.key, value=record.value)
    return handle


class NonTransactionalProcessor(FlowProcessor):
    """Benchmark-only: the engine's loop with plain producers (the engine's record-batch size) and consumer offset
    commits (no exactly-once)."""

    def _producer_for(self, partition: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, acks="all",
                                enable_idempotence=True, max_batch_size=RECORD_BATCH_BYTES)

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        assert task.producer is not None and self._consumer is not None
        await asyncio.gather(*await send_batched(task.producer, outgoing, self._partitioner))
        await self._consumer.commit(offsets)
        return {}  # in-memory stores only: no changelog position to keep


async def run_engine(processor: FlowProcessor, records: int, timeout_s: float, first_seen: list[float]) -> Run:
    """Run ``processor`` until ``records`` are committed: the time from its first record seen to the last commit."""
    stop = asyncio.Event()
    running = asyncio.create_task(processor.run(stop))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            await asyncio.sleep(0.01)
            if running.done():
                running.result()
                raise BenchError(f"the engine stopped after {processor.processed} of {records} records")
            if processor.processed >= records and not processor._lock.locked():
                return Run(name="", records=processor.processed, seconds=time.perf_counter() - first_seen[0])
            if time.monotonic() > deadline:
                raise BenchError(f"the engine processed {processor.processed} of {records} records in "
                                 f"{timeout_s:.0f}s")
    finally:
        stop.set()
        await running


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


def _top(profile: cProfile.Profile, limit: int) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime")
    rows = []
    for func, (_, calls, tottime, cumtime, _) in sorted(stats.stats.items(),  # type: ignore[attr-defined]
                                                        key=lambda kv: -kv[1][2])[:limit]:
        filename, line, name = func
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(f"| `{name}` | {where}:{line} | {calls} | {tottime:.2f} | {cumtime:.2f} |")
    return rows


async def measure(bootstrap: str, *, records: int, keys: int, profile_records: int,
                  timeout_s: float) -> dict[str, object]:
    prefix = f"bench-tp-{uuid.uuid4().hex[:8]}"
    source = f"{prefix}-in"
    await ensure_topics(bootstrap, [TopicSpec(name=source, partitions=1)])
    began = time.perf_counter()
    await produce(bootstrap, source, records, keys)
    produced_s = time.perf_counter() - began
    schemas = SchemaStore.from_directory()
    settings = EngineSettings(bootstrap_servers=bootstrap, batch_max_records=BATCH, worker_id="bench")
    try:
        runs = {"raw": await raw_loop(bootstrap, source, f"{prefix}-raw-out", records, timeout_s,
                                      wait_per_batch=False, state_topic=f"{prefix}-raw-state"),
                "raw_wait": await raw_loop(bootstrap, source, f"{prefix}-raw-wait-out", records, timeout_s,
                                           wait_per_batch=True, state_topic=f"{prefix}-raw-wait-state"),
                "raw_batched": await raw_loop(bootstrap, source, f"{prefix}-raw-batched-out", records, timeout_s,
                                              wait_per_batch=True, state_topic=f"{prefix}-raw-batched-state",
                                              batched=True),
                "raw_copy": await raw_loop(bootstrap, source, f"{prefix}-raw-copy-out", records, timeout_s,
                                           wait_per_batch=True)}
        for label, cls in (("engine_eos", FlowProcessor), ("engine_no_eos", NonTransactionalProcessor)):
            first_seen: list[float] = []
            spec = FlowSpec(name=f"{prefix}-{label.replace('_', '-')}", inputs=(source,),
                            handler=pass_through(f"{prefix}-{label}-out", first_seen), stores=("latest",),
                            outputs=(f"{prefix}-{label}-out",))
            runs[label] = await run_engine(cls(spec, settings, schemas), records, timeout_s, first_seen)
        profile_seen: list[float] = []
        profile_spec = FlowSpec(name=f"{prefix}-profile", inputs=(source,),
                                handler=pass_through(f"{prefix}-p-out", profile_seen), stores=("latest",),
                                outputs=(f"{prefix}-p-out",))
        profiler = cProfile.Profile()
        profiler.enable()
        profiled = await run_engine(FlowProcessor(profile_spec, settings, schemas), min(profile_records, records),
                                    timeout_s, profile_seen)
        profiler.disable()
    finally:
        await delete_topics(bootstrap, prefix)
    baseline = max(runs["raw"].per_second, runs["raw_wait"].per_second)
    return {
        "records": records, "keys": keys, "batch": BATCH, "partitions": 1, "produce_seconds": produced_s,
        "runs": {k: {"records": r.records, "seconds": r.seconds, "per_second": r.per_second}
                 for k, r in runs.items()},
        "raw_baseline_per_second": baseline,
        "ratio_eos_to_raw": runs["engine_eos"].per_second / baseline,
        "ratio_no_eos_to_raw": runs["engine_no_eos"].per_second / baseline,
        "ratio_eos_to_copy": runs["engine_eos"].per_second / runs["raw_copy"].per_second,
        "ratio_eos_to_batched": runs["engine_eos"].per_second / runs["raw_batched"].per_second,
        "profile": {"records": profiled.records, "seconds_under_profiler": profiled.seconds,
                    "top": _top(profiler, 15)},
    }
