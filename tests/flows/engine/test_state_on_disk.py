"""State on disk: a worker with RocksDB stores, SIGKILLed mid-stream and when idle, starts again reading only the
changelog written since its checkpoint (never the whole of it), with state equal to a full replay of the
changelog, and the exactly-once guarantee unchanged (no input lost, none counted twice)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import defaultdict
from contextlib import suppress
from pathlib import Path

import orjson
from kafka import KafkaProducer
from support.processes import STATE_WORKER, start_script
from support.topics import probe_topics, read_committed, records_to_end
from support.waiting import eventually

from streams.flows.engine.rocks import RocksStore, store_path
from streams.stack.running import RunningStack

RECORDS = 2400
KEYS = 300
PARTITIONS = 2
KILLS_MID_STREAM = 2
#: The worker's transaction at most (state_worker.py: batches of 50, up to 3 gathered while one commits): at most
#: one committed transaction is not checkpointed yet when it is killed.
TRANSACTION = 150
_REPLAYED = re.compile(rb"task (\d+): store counts: (\d+) changelog records replayed from (the beginning|offset \d+)")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_script(STATE_WORKER, env, log)


def _restores(log: Path, since: int, *, at_least: int, worker: subprocess.Popen[bytes],
              timeout: float = 90) -> list[tuple[int, int, str]]:
    """The restores a worker logged after byte ``since`` of its log: (task, records replayed, from where); as
    many as are there once ``at_least`` are, the worker exited, or ``timeout`` passed (the caller asserts)."""
    def found() -> list[tuple[int, int, str]]:
        return [(int(t), int(n), f.decode()) for t, n, f in _REPLAYED.findall(log.read_bytes()[since:])]

    with suppress(AssertionError):  # short: returned as found, for the caller's assertion
        eventually(f"{at_least} restores logged", lambda: len(found()) >= at_least or worker.poll() is not None,
                   timeout=timeout, every=0.2)
    return found()


def _kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def _changelog_replayed(bootstrap: str, topic: str) -> dict[int, dict[str, dict[str, int]]]:
    """Every key's last committed value per partition of ``topic``: what a full replay rebuilds."""
    state: dict[int, dict[str, dict[str, int]]] = {p: {} for p in range(PARTITIONS)}
    for record in records_to_end(bootstrap, [topic]):
        key = record.text_key or ""
        if record.value is None:
            state[record.partition].pop(key, None)
        else:
            state[record.partition][key] = orjson.loads(record.value)
    return state


def test_a_restart_reads_only_the_changelog_tail_and_keeps_exactly_once(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    flow, topic_in, topic_out = probe_topics(bootstrap, "state-probe", PARTITIONS)

    def feed() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for i in range(RECORDS):
            producer.send(topic_in, key=b"key-%d" % (i % KEYS), value=b"v%05d" % i)
            if i % 50 == 49:
                producer.flush()
                time.sleep(0.1)
        producer.flush()
        producer.close()

    state_dir = tmp_path / "state"
    env = {"STATE_BROKER": bootstrap, "STATE_FLOW": flow, "STATE_IN": topic_in, "STATE_OUT": topic_out,
           "STATE_DIR": str(state_dir)}
    log = tmp_path / "worker.log"
    starts: list[int] = [0]
    worker = _start(env, log)
    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        for kill in range(1, KILLS_MID_STREAM + 1):
            seen = read_committed(bootstrap, topic_out, timeout=120, drain=False,
                                  at_least=RECORDS * kill // (KILLS_MID_STREAM + 2), worker=worker)
            assert seen, f"no output before kill {kill}; log:\n{log.read_text()[-3000:]}"
            _kill(worker)
            starts.append(log.stat().st_size)
            worker = _start(env, log)
        feeder.join()
        values = [v or b"" for v in read_committed(bootstrap, topic_out, at_least=RECORDS,
                                                   timeout=240, worker=worker)]
        time.sleep(2)  # idle: the last batch's checkpoint is on disk
        _kill(worker)
        starts.append(log.stat().st_size)
        worker = _start(env, log)
        idle_restart = _restores(log, starts[-1], at_least=PARTITIONS, worker=worker)
    finally:
        feeder.join()
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill(worker)
    text = log.read_text()

    # Exactly once: every input forwarded once, each key's counts 1..n without a gap or a repeat.
    payloads = sorted(v.split(b"|")[0] for v in values)
    assert payloads == [b"v%05d" % i for i in range(RECORDS)], f"{len(payloads)} outputs for {RECORDS} inputs"
    counts: dict[int, list[int]] = defaultdict(list)
    for value in values:
        payload, n = value.split(b"|")
        counts[int(payload[1:]) % KEYS].append(int(n))
    for key, seen_counts in counts.items():
        assert sorted(seen_counts) == list(range(1, len(seen_counts) + 1)), f"key {key}: {sorted(seen_counts)[:30]}"

    # The first start had nothing to replay; every later one read its checkpoint and only the tail after it:
    # at most the one transaction committed but not yet checkpointed when the worker was killed, none when it was
    # idle.
    first = _REPLAYED.findall(log.read_bytes()[:starts[1]])
    assert first and all(n == b"0" for _, n, _ in first), text[-3000:]
    for since in starts[1:]:
        later = [(int(t), int(n), f.decode()) for t, n, f in _REPLAYED.findall(log.read_bytes()[since:])]
        assert later, f"no restore logged after a restart; log:\n{text[-3000:]}"
        assert all(f.startswith("offset") and n <= TRANSACTION for _, n, f in later), later
    assert len(idle_restart) >= PARTITIONS and all(n == 0 for _, n, _ in idle_restart), idle_restart

    # The state on disk is what a full replay of the changelog rebuilds, and what the inputs say.
    replayed = _changelog_replayed(bootstrap, f"{flow}-counts-changelog")
    expected = {f"key-{k}": {"n": RECORDS // KEYS} for k in range(KEYS)}
    on_disk: dict[str, dict[str, int]] = {}
    for partition in range(PARTITIONS):
        store = RocksStore("counts", store_path(state_dir, flow, "counts", partition),
                           topic=f"{flow}-counts-changelog", partition=partition, cache_mb=8)
        try:
            assert store.position is not None
            held = dict(store.items())
            assert len(store) == len(held)
        finally:
            store.close()
        assert held == replayed[partition], f"partition {partition}: disk and full replay differ"
        on_disk.update(held)
    assert on_disk == expected
