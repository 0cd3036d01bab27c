"""`isthmus topics trace` on a stack holding many records: how long one customer's trace takes.

``records`` canonical Customer records (Avro, keyed by customer number, ``keys`` customers) are loaded into
topics of the run's own, their record times spread evenly over the last ``days`` days, as a stack that has run
that long holds them. Then one customer's trace is timed as the CLI runs it (a process of its own, with the
default window of a day, and ``--since`` the whole history), and in process. The topics are deleted at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from bench.exceptions import BenchError
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.trace import trace

TOPICS = 4
PARTITIONS = 3


def load(bootstrap: str, topics: list[str], *, records: int, keys: int, days: float, store: SchemaStore) -> float:
    """``records`` Customer records over ``topics``, oldest first; seconds taken."""
    began = time.monotonic()
    now_ms = int(time.time() * 1000)
    span_ms = int(days * 86_400_000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=512 * 1024, acks=1,
                             compression_type=None)
    try:
        for n in range(records):
            number = f"C-{n % keys:06d}"
            value = store.encode("Customer", {"customer_number": number, "name": f"Bench customer {n % keys}",
                                              "email": f"c{n % keys}@bench.example", "account_code": None})
            producer.send(topics[n % len(topics)], key=number.encode(), value=value,
                          timestamp_ms=now_ms - span_ms + span_ms * n // records)
        producer.flush()
    finally:
        producer.close()
    return time.monotonic() - began


def cli_seconds(bootstrap: str, entity: str, topics: list[str], *extra: str) -> tuple[float, int]:
    """Wall seconds of ``isthmus topics trace`` as a user runs it, and the records it printed."""
    port = bootstrap.rpartition(":")[2]
    argv = [sys.executable, "-m", "streams.cli.main", "topics", "trace", entity, "--json",
            *(a for t in topics for a in ("--topic", t)), *extra]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "ISTHMUS_KAFKA_PORT": port})
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise BenchError(f"topics trace failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return seconds, len(done.stdout.splitlines())


def measure(bootstrap: str, *, records: int, keys: int, days: float) -> dict[str, object]:
    store = SchemaStore.from_directory()
    run = uuid.uuid4().hex[:8]
    topics = [f"bench-trace-{run}-{i}" for i in range(TOPICS)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in topics])
    try:
        load_s = load(bootstrap, topics, records=records, keys=keys, days=days, store=store)
        entity = f"C-{(records - 1) % keys:06d}"  # the newest record's: its customer has history in the window
        whole = f"{int(days) + 1}d"
        window_s, window_found = cli_seconds(bootstrap, entity, topics)
        whole_s, whole_found = cli_seconds(bootstrap, entity, topics, "--since", whole)
        began = time.monotonic()
        since = int((datetime.now(UTC).timestamp() - 86_400) * 1000)
        in_process = len(trace(bootstrap, entity, store, topics=topics, since_ms=since))
        in_process_s = time.monotonic() - began
    finally:
        admin.delete_topics(topics)
        admin.close()
    return {"records": records, "keys": keys, "days": days, "topics": TOPICS, "partitions": PARTITIONS,
            "load_s": round(load_s, 1), "entity": entity,
            "cli_default_window_s": round(window_s, 2), "cli_default_window_records": window_found,
            "cli_whole_history_s": round(whole_s, 2), "cli_whole_history_records": whole_found,
            "whole_history_since": whole, "in_process_default_window_s": round(in_process_s, 2),
            "in_process_default_window_records": in_process}


__all__ = ["measure"]
