"""The flow engine's guarantee: a worker SIGKILLed again and again mid-stream loses nothing, applies nothing
twice, keeps its state, and dead-letters a poison record once while the stream goes on."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

from kafka import KafkaProducer
from support.processes import start_count_worker, stop
from support.topics import probe_topics, read_committed

from streams.codecs.avro.single_object import SchemaStore
from streams.kafka.deadletters import DLQ_TOPIC
from streams.stack.running import RunningStack

RECORDS = 3000
KEYS = 7
POISON_EVERY = 997
KILLS = 3


def test_sigkill_again_and_again_loses_and_duplicates_nothing(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    flow, topic_in, topic_out = probe_topics(bootstrap, "engine-probe", 2)
    expected = [b"v%05d" % i for i in range(RECORDS) if i % POISON_EVERY != POISON_EVERY - 1]
    poison = RECORDS - len(expected)

    def feed() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for i in range(RECORDS):
            value = b"poison" if i % POISON_EVERY == POISON_EVERY - 1 else b"v%05d" % i
            producer.send(topic_in, key=b"key-%d" % (i % KEYS), value=value)
            if i % 50 == 49:
                producer.flush()
                time.sleep(0.1)
        producer.flush()
        producer.close()

    env = {"COUNT_BROKER": bootstrap, "COUNT_FLOW": flow, "COUNT_IN": topic_in,
           "COUNT_OUT": topic_out}
    log = tmp_path / "worker.log"
    feeder = threading.Thread(target=feed)
    worker = start_count_worker(env, log)
    feeder.start()
    try:
        for kill in range(1, KILLS + 1):
            seen = read_committed(bootstrap, topic_out, at_least=RECORDS * kill // (KILLS + 2),
                                  timeout=120, drain=False, worker=worker)
            assert seen, f"no output before kill {kill}; log:\n{log.read_text()[-3000:]}"
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            worker = start_count_worker(env, log)
        feeder.join()
        values = [v or b"" for v in read_committed(bootstrap, topic_out, at_least=len(expected),
                                                   timeout=240, worker=worker)]
    finally:
        feeder.join()
        stop(worker)

    payloads = [v.split(b"|")[0] for v in values]
    assert len(payloads) == len(expected), f"{len(payloads)} committed outputs for {len(expected)} inputs"
    assert sorted(payloads) == expected
    counts: dict[int, list[int]] = defaultdict(list)
    for value in values:
        payload, n = value.split(b"|")
        counts[int(payload[1:]) % KEYS].append(int(n))
    for key, seen_counts in counts.items():
        assert sorted(seen_counts) == list(range(1, len(seen_counts) + 1)), f"key {key}: {sorted(seen_counts)[:30]}"

    store = SchemaStore.from_directory()
    letters = [store.decode(v or b"").value for v in read_committed(bootstrap, DLQ_TOPIC, at_least=poison, timeout=30)]
    mine = [letter for letter in letters if letter["topic"] == topic_in]
    assert len(mine) == poison, f"expected {poison} dead letters, got {len(mine)}"
    assert all(letter["value"] == b"poison" and "poison record" in letter["reason"] for letter in mine)
    # the worker rejects the poison of key-2 and fails on that of key-5 and key-1, after counting and forwarding
    assert {letter["error_type"] for letter in mine} == {"Rejected", "ValueError"}
