"""A sink whose target is down runs, and says so: ``isthmus status`` must not tell the operator to start it.

A trial's MariaDB billing target was down for 10 min; its sink was alive, breaker open, logging ``could not connect``
every 5 s, and ``isthmus status`` said ``sink billing not running or stalled (about 1919 record(s) waiting, the oldest
for 8 min; last commit 8 min ago): start isthmus sink --target billing``: following it starts a second sink. A sink
joins no group, and with nothing applied it committed nothing, so nothing told it from a stopped one. Now, while
records wait, it commits the offsets it holds again every HEARTBEAT_S, with its note (breaker, progress, failure) in
the offsets' metadata, and status reads both (streams/sinks/presence.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from streams.inspect import health
from streams.sinks.presence import HEARTBEAT_S, latest
from streams.sinks.worker import SinkWorker
from tests.sinks.test_sink_commit_refused import _Producer, _worker

pytestmark = pytest.mark.unit


def _down(folder: Path) -> tuple[SinkWorker, TopicPartition]:
    """The ledgerly sink with two commands fetched at offsets 5 and 6 and neither applied: its target is down and
    its breaker open."""
    worker = _worker(folder)
    tp = TopicPartition(worker.resolved.command_topic, 0)
    worker.offsets.track(tp, 5)
    worker.offsets.track(tp, 6)
    for _ in range(worker.options.breaker_threshold):
        worker.gate.failure("could not connect (ledgerly down?)")
    return worker, tp


def _flushed(worker: SinkWorker) -> _Producer:
    """The producer of the worker's next flush, after it."""

    async def flush() -> _Producer:
        producer = _Producer(worker.resolved.transactional_id)
        await producer.start()
        worker._producer = producer  # type: ignore[assignment]
        await worker._flush()
        return producer

    return asyncio.run(flush())


def test_a_sink_whose_target_is_down_commits_its_offsets_again_with_its_note(tmp_path: Path) -> None:
    worker, tp = _down(tmp_path)
    assert not _flushed(worker).committed  # within the heartbeat: nothing to commit yet
    worker._committed_at = time.monotonic() - HEARTBEAT_S - 1
    producer = _flushed(worker)
    assert producer.committed and producer.sent == [] and producer.offsets == {tp: 5}  # no offset moved
    assert worker.stats.heartbeats == 1 and worker.stats.transactions == 0 and worker.committed_offsets == {}
    note = latest(list(producer.metadata.values()))
    assert note is not None and note.breaker == "open" and note.advanced_ms is None
    assert not _flushed(worker).committed  # the next one a heartbeat later


def test_status_calls_a_sink_beating_with_its_breaker_open_stalled_not_stopped(tmp_path: Path) -> None:
    worker, _ = _down(tmp_path)
    worker._committed_at = time.monotonic() - HEARTBEAT_S - 1
    producer = _flushed(worker)
    now_ms = int(time.time() * 1000)
    # the transaction coordinator's start time of its last transaction: the heartbeat's, else 8 min before
    last_ms = now_ms if producer.committed else now_ms - 480_000
    activity = health.Activity(checked_ms=now_ms + 2000, stall_s=120, last_commit_ms=last_ms,
                               oldest_waiting_ms=now_ms - 480_000, note=latest(list(producer.metadata.values())))
    base = "isthmus-sink-ledgerly"
    sink = health.Consumer(kind="sink", name="ledgerly", base=base, lag={base: {"isthmus.commands.ledgerly": 2}},
                           activity=activity)
    state, problems = health.consumer_state(sink)
    assert state == "stalled"
    assert problems == ["sink ledgerly runs but applies nothing (2 record(s) waiting, the oldest for 8 min; nothing "
                        "applied since its worker started; breaker open): its target is failing and the sink retries "
                        "on its own; read its log, and isthmus_sink_breaker_state on its /metrics; do not start a "
                        "second sink"]
    assert "isthmus sink --target" not in problems[0]
