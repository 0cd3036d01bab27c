"""Reading what a topic holds from its beginning: for the exactly-once tests and whoever checks a topic's records."""

from __future__ import annotations

import subprocess
import time

from kafka import KafkaConsumer, TopicPartition


def read_committed(bootstrap: str, topic: str, *, at_least: int, timeout: float, partitions: int = 1,
                   drain: bool = True, worker: subprocess.Popen[bytes] | None = None) -> list[bytes | None]:
    """Committed values of ``topic`` until ``at_least`` are seen (or ``timeout``, or ``worker`` exits); then, with
    ``drain``, until two seconds pass with nothing new: a duplicate must be seen too."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", group_id=None,
                             enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[bytes | None] = []
    deadline = time.monotonic() + timeout
    quiet = 0
    try:
        while time.monotonic() < deadline and (len(values) < at_least or (drain and quiet < 4)):
            if worker is not None and worker.poll() is not None and len(values) < at_least:
                break
            batch = consumer.poll(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    return values


def values_to_end(bootstrap: str, topic: str, *, committed: bool = True) -> list[bytes | None]:
    """Every value of partition 0 of ``topic`` from its beginning to its end as of now (its last stable offset
    when ``committed``: records of open transactions are waited for, not skipped)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed" if committed else "read_uncommitted")
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        values: list[bytes | None] = []
        while consumer.position(tp) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                values += [r.value for r in records]
        return values
    finally:
        consumer.close()
