"""Faust's exactly-once processing with a table, on this Kafka 4 broker.

The worker counts records per key in a changelog-backed table and forwards each record with its count, in
Kafka transactions (through ``streams.flows.transactions.send_in_transaction``: Faust's own ``Topic.send``
writes outside the transaction, see that module). A read_committed consumer must see every input exactly
once, per key the counts 1..n with no gap and no repeat, and transaction markers on the output.

What this does not cover, because Faust 0.15.3 does not hold it: a worker SIGKILLed mid-stream. Its
restarted table recovers a stale state (committed increments are lost, so counts repeat), see README
"Known incompatibilities"; the streaming core owns its transactions and state for that reason, and its
SIGKILL tests are in tests/flows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from support.committed import read_committed

from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

RECORDS = 3000
KEYS = 7


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "faust", "-A", "eos_app", "worker", "-l", "info"],
                                cwd=Path(__file__).parent, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
                                stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_exactly_once_with_a_table(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    topic_in, topic_out = f"eos-probe-in-{run}", f"eos-probe-out-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic_in, 2, 1), NewTopic(topic_out, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(RECORDS):
        producer.send(topic_in, key=b"key-%d" % (i % KEYS), value=b"v%05d" % i)
    producer.flush()
    producer.close()

    env = {"EOS_BROKER": bootstrap, "EOS_APP_ID": f"eos-probe-{run}", "EOS_IN": topic_in, "EOS_OUT": topic_out,
           "EOS_DATADIR": str(tmp_path / "faust")}
    log = tmp_path / "worker.log"
    worker = _start_worker(env, log)
    try:
        values = [v or b"" for v in read_committed(bootstrap, topic_out, partitions=2, at_least=RECORDS,
                                                   timeout=180, worker=worker)]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert values, f"the worker produced nothing; log:\n{log.read_text()[-3000:]}"

    payloads = [v.split(b"|")[0] for v in values]
    end_offsets = KafkaConsumer(bootstrap_servers=bootstrap).end_offsets(
        [TopicPartition(topic_out, p) for p in (0, 1)])
    assert sum(end_offsets.values()) > len(values), "no transaction markers: the output was not written in transactions"
    assert len(payloads) == RECORDS, f"expected {RECORDS} committed records, got {len(payloads)}"
    assert sorted(payloads) == [b"v%05d" % i for i in range(RECORDS)]
    counts_per_key: dict[int, list[int]] = defaultdict(list)
    for value in values:
        payload, count = value.split(b"|")
        counts_per_key[int(payload[1:]) % KEYS].append(int(count))
    for key, counts in counts_per_key.items():
        assert sorted(counts) == list(range(1, len(counts) + 1)), f"key {key}: table counts {sorted(counts)[:20]}..."
