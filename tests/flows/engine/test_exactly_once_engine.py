"""The flow engine's guarantee: a worker SIGKILLed again and again mid-stream loses nothing, applies nothing
twice, keeps its state, and dead-letters a poison record once while the stream goes on; so it does with a record
whose output is larger than the worker may produce."""

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
from streams.flows.engine.sizes import record_size
from streams.kafka.deadletters import DLQ_TOPIC, value_left_out
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
    mine = [letter for letter in letters if letter.get("topic") == topic_in]  # not the replay notes beside them
    assert len(mine) == poison, f"expected {poison} dead letters, got {len(mine)}"
    assert all(letter["value"] == b"poison" and "poison record" in letter["reason"] for letter in mine)
    # the worker rejects the poison of key-2 and fails on that of key-5 and key-1, after counting and forwarding
    assert {letter["error_type"] for letter in mine} == {"Rejected", "ValueError"}


def test_a_record_whose_output_is_too_large_is_dead_lettered_and_the_next_goes_on(stack: RunningStack,
                                                                                   tmp_path: Path) -> None:
    """Before, the broker refused the transaction's record batch (``[Error 10] MessageSizeTooLargeError``) and the
    flow restarted from its last commit every 2 s for ever, behind the same record."""
    bootstrap = stack.settings.bootstrap_servers
    flow, topic_in, topic_out = probe_topics(bootstrap, "size-probe", 1)
    limit, large = 64 * 1024, b"L" * 100_000  # its output, value + "|<count>", is over the limit
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, value in ((b"key-1", b"v00000"), (b"key-1", large), (b"key-1", b"v00002"), (b"key-2", b"v00003")):
        producer.send(topic_in, key=key, value=value)
    producer.flush()
    producer.close()

    log = tmp_path / "worker.log"
    worker = start_count_worker({"COUNT_BROKER": bootstrap, "COUNT_FLOW": flow, "COUNT_IN": topic_in,
                                 "COUNT_OUT": topic_out, "COUNT_MAX_REQUEST_SIZE": str(limit)}, log)
    try:
        values = read_committed(bootstrap, topic_out, at_least=3, timeout=120, worker=worker)
        letters = [letter for letter in (SchemaStore.from_directory().decode(v or b"").value
                                         for v in read_committed(bootstrap, DLQ_TOPIC, at_least=1, timeout=30))
                   if letter.get("topic") == topic_in]
    finally:
        stop(worker)

    # the large record's count is undone with its output: key-1 counts 1, 2 over the records kept
    assert values == [b"v00000|1", b"v00002|2", b"v00003|1"], log.read_text()[-3000:]
    (letter,) = letters
    size = record_size(b"key-1", large + b"|2", [])
    assert (letter["offset"], letter["error_type"], letter["stage"]) == (1, "OutputTooLarge", f"flow.{flow}")
    assert f"a record it produced for {topic_out} is {size} bytes, over the {limit} bytes" in letter["reason"]
    assert letter["value"] is None and value_left_out(letter) == len(large), "the dead letter fits within the limit"
    assert "restarting from the last commit" not in log.read_text()
