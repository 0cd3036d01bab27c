"""Where a record's time goes inside the worker and the sink: what it waits for versus the work on it, per flow
(record wait, batch queue, handler wall and CPU, commit wait, commit) and per sink (record wait, queue, commit),
on the shared latency buckets and exposed as histograms."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from support.metrics import parse, scrape, types, value

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.batches import OutRecord
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.metrics.tally import Tally
from streams.sinks.metrics import sink_registry
from streams.sinks.runner import SinkEnvironment, build_worker
from streams.worker.metrics import worker_registry

STORE = SchemaStore.from_directory()
#: How long the stand-in transaction takes: the next batch's commit wait must show it.
COMMIT_S = 0.2


def test_a_tally_counts_each_observation_in_its_bucket_and_writes_cumulative_counts() -> None:
    tally = Tally((0.05, 0.5, 5.0))
    for seconds in (0.04, 0.05, 0.3, 0.45, 7.0):
        tally.observe(seconds)
    tally.observe(0.001, times=3)
    assert tally.cumulative() == [(0.05, 5), (0.5, 7), (5.0, 7), (math.inf, 8)]
    assert tally.count == 8 and tally.sum == pytest.approx(0.04 + 0.05 + 0.3 + 0.45 + 7.0 + 0.003)
    with pytest.raises(ValueError, match="ascending"):
        Tally((1.0, 0.5))


class _TimedCommit(FlowProcessor):
    """The engine's batch path with its Kafka transaction replaced by a pause of ``COMMIT_S``."""

    async def _commit(self, task: _Task, outgoing: list[OutRecord],
                      offsets: dict[TopicPartition, int]) -> dict[str, int]:
        await asyncio.sleep(COMMIT_S)
        return {}


def _message(offset: int, age_s: float) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="in", partition=0, offset=offset, timestamp=int((time.time() - age_s) * 1000),
                          timestamp_type=0, key=b"k", value=b"v", checksum=None, serialized_key_size=1,
                          serialized_value_size=1, headers=())


def _busy(record: Incoming, ctx: Context) -> None:
    end = time.thread_time() + 0.002  # CPU, not a sleep: the handler's CPU time must show it
    while time.thread_time() < end:
        pass


def test_a_flow_times_its_records_wait_its_handler_and_its_commits() -> None:
    processor = _TimedCommit(FlowSpec(name="timed", inputs=("in",), handler=_busy),
                             EngineSettings(bootstrap_servers="127.0.0.1:9"), STORE)
    task = _Task(partition=0, restored=_Restored(), ready=True)
    tp = TopicPartition("in", 0)

    async def two_batches() -> None:
        fetched = time.perf_counter()
        await asyncio.sleep(0.05)  # the batch waits behind another task's before its handler starts
        await processor._process(task, [(tp, [_message(0, age_s=3.0), _message(1, age_s=3.0)])], fetched)
        await processor._process(task, [(tp, [_message(2, age_s=0.0)])], time.perf_counter())
        await processor._settled(task)

    asyncio.run(two_batches())
    timings = processor.timings
    waits = timings.record_wait.cumulative()
    assert timings.record_wait.count == 3
    assert dict(waits)[2.5] == 1 and dict(waits)[5.0] == 3, "two records waited ~3 s, one none"
    assert timings.batch_queue.count == 2 and timings.batch_queue.sum >= 0.05
    assert timings.handler.count == 2 and timings.handler.sum >= 3 * 0.002
    assert timings.handler_cpu.count == 2 and timings.handler_cpu.sum >= 3 * 0.002
    assert timings.commit.count == 2 and timings.commit.sum >= 2 * COMMIT_S
    # The first batch found no transaction in flight; the second waited for the first's.
    assert timings.commit_wait.count == 2 and timings.commit_wait.sum >= COMMIT_S * 0.8
    assert processor.processed == 3 and processor.transactions == 2

    samples = parse(text := scrape(worker_registry("w-1", [processor], {})))
    assert types(text)["isthmus_flow_commit_wait_seconds"] == "histogram"
    assert value(samples, "isthmus_flow_record_wait_seconds_count", worker="w-1", flow="timed") == 3
    assert value(samples, "isthmus_flow_record_wait_seconds_bucket", worker="w-1", flow="timed", le="2.5") == 1
    assert value(samples, "isthmus_flow_commit_seconds_count", worker="w-1", flow="timed") == 2
    assert value(samples, "isthmus_flow_handler_cpu_seconds_sum", worker="w-1", flow="timed") == pytest.approx(
        timings.handler_cpu.sum)


def test_a_sink_exposes_its_record_wait_queue_and_commit_times() -> None:
    # no stack: the cluster and the ERP's URL given as a deployment gives them (nothing is called)
    env = {"ISTHMUS_SINK_METRICS_PORT": "0", "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
           "ISTHMUS_ENDPOINTS_API_URLS": json.dumps({"erp": "http://127.0.0.1:9"})}
    worker = build_worker("erp", SinkEnvironment.from_env({**os.environ, **env}), STORE)
    worker.record_wait_seconds.observe("erp", 0.04)
    worker.queue_seconds.observe("erp", 0.45)
    worker.commit_seconds.observe("erp", 0.02)
    samples: dict[Any, float] = parse(text := scrape(sink_registry(worker)))
    for name in ("isthmus_sink_record_wait_seconds", "isthmus_sink_queue_seconds", "isthmus_sink_commit_seconds"):
        assert types(text)[name] == "histogram"
        assert value(samples, f"{name}_count", target="erp") == 1
    assert value(samples, "isthmus_sink_queue_seconds_bucket", target="erp", le="0.3") == 0
    assert value(samples, "isthmus_sink_queue_seconds_bucket", target="erp", le="0.5") == 1
