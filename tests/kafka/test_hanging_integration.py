"""`isthmus topics hanging` and the abort it does, on the real broker with Kafka's own transactions tool.

A transactional producer writes into a transaction and never ends it: the partition's last stable offset
stays at its first record, so a read_committed reader sees nothing after it (what a hanging transaction does
to Connect's offsets reader and to the flows). Aborting it from its start offset closes it: the reader moves
past it, and the record is never delivered.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from support.stack_offer import stack_runtime
from support.topics import values_to_end

from streams.kafka import hanging
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


async def _leave_open(bootstrap: str, topic: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"hanging-test-{uuid.uuid4().hex}",
                                transaction_timeout_ms=900_000)
    await producer.start()
    await producer.begin_transaction()
    await (await producer.send(topic, b"never committed"))
    return producer


def test_an_open_transaction_blocks_read_committed_readers_until_it_is_aborted(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    topic = f"test-hanging-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    plain = KafkaProducer(bootstrap_servers=bootstrap)
    plain.send(topic, b"before").get(timeout=30)

    loop = asyncio.new_event_loop()
    producer = loop.run_until_complete(_leave_open(bootstrap, topic))
    try:
        plain.send(topic, b"after").get(timeout=30)
        plain.flush()
        assert hanging.open_transactions(bootstrap, [topic]) == [f"{topic}[0]"]
        assert values_to_end(bootstrap, topic) == [b"before"], "the open transaction's record holds the reader"

        tool = hanging.TransactionsTool.for_kafka(stack_runtime(stack.settings).kafka)
        # Younger than a minute and known to its coordinator: not hanging, so find-hanging leaves it alone.
        assert [h for h in hanging.find_hanging(tool, older_than_min=1) if h.topic == topic] == []
        hanging.abort(tool, hanging.HangingTransaction(topic=topic, partition=0, producer_id=-1, producer_epoch=-1,
                                                       start_offset=1, minutes=0))
        assert hanging.open_transactions(bootstrap, [topic]) == [], "the abort marker closed it"
        assert values_to_end(bootstrap, topic) == [b"before", b"after"]
    finally:
        loop.run_until_complete(producer.stop())
        loop.close()
        plain.close()


def test_the_cli_reports_none_on_a_healthy_broker(stack: RunningStack) -> None:
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "topics", "hanging", "--json"],
                          env=dict(os.environ), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "no hanging transaction (open over 2 min" in done.stderr
