"""`topics trace` on the real broker: a day by default, older history with --since, and a canonical record's
source fetched by its lineage however old."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from support.cli import isthmus

from streams.flows.canonical.lineage import Lineage
from streams.stack.running import RunningStack

DAY_MS = 86_400_000


@pytest.fixture
def topics(stack: RunningStack) -> Iterator[dict[str, str]]:
    run = uuid.uuid4().hex[:8]
    own = {"cdc": f"it-{run}.trace-cdc", "canonical": f"it-{run}.trace-canonical"}
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in own.values()])
    try:
        yield own
    finally:
        admin.delete_topics(list(own.values()))
        admin.close()


def trace(entity: str, own: dict[str, str], *extra: str) -> list[dict[str, object]]:
    args = [a for t in own.values() for a in ("--topic", t)]
    done = isthmus("topics", "trace", entity, "--json", *args, *extra,
                   env={k: v for k, v in os.environ.items() if k not in ("ISTHMUS_TOKEN", "ISTHMUS_TOKENS")})
    assert done.returncode == 0, done.stderr
    assert "(the default window)" in done.stderr or extra, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_trace_reads_a_day_and_fetches_older_sources_by_lineage(stack: RunningStack,
                                                                   topics: dict[str, str]) -> None:
    number = f"C-{uuid.uuid4().int % 10**9:09d}"
    now = int(time.time() * 1000)
    producer = KafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers)
    row = json.dumps({"customer_number": number}).encode()
    producer.send(topics["cdc"], value=row, timestamp_ms=now - 3 * DAY_MS).get(timeout=30)  # offset 0: no lineage
    producer.send(topics["cdc"], value=row, timestamp_ms=now - 2 * DAY_MS).get(timeout=30)  # offset 1: the source
    lineage = Lineage(system="crm", table="customers", key='{"id":1}', change="c:1:customers:1",
                      commit_time=datetime.now(UTC) - timedelta(days=2), topic=topics["cdc"], partition=0, offset=1,
                      mapping_version="customer@test")
    producer.send(topics["canonical"], key=number.encode(), value=row, timestamp_ms=now - 60_000,
                  headers=list(lineage.headers().items())).get(timeout=30)
    producer.close()

    recent = trace(number, topics)
    assert [(r["topic"], r["offset"]) for r in recent] == [(topics["cdc"], 1), (topics["canonical"], 0)]
    whole = trace(number, topics, "--since", "7d")
    assert [(r["topic"], r["offset"]) for r in whole] == [(topics["cdc"], 0), (topics["cdc"], 1),
                                                          (topics["canonical"], 0)]
