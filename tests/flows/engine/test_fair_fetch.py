"""A batch takes a share of every partition that has records at hand: a partition whose fetch brought many (a
compressed topic) does not run ahead of the others by a whole fetch, and each partition's records keep their order,
none lost or taken twice."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from kafka import KafkaProducer
from support.topics import engine_consumer, probe_topics

from streams.flows.engine.fetching import Batch, take_fairly
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration

MANY, FEW, BATCH = 3_000, 300, 200


def _fill(bootstrap: str, topic: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="lz4", linger_ms=20)
    for i in range(count):
        producer.send(topic, value=f"{topic}:{i}".encode() + b"x" * 300)  # a whole fetch of them in one go
    producer.flush()
    producer.close()


async def _batches(bootstrap: str, tps: list[TopicPartition]) -> list[Batch]:
    async with engine_consumer(bootstrap, tps) as consumer:
        await asyncio.sleep(3)  # both partitions' fetches come back before the first batch is taken
        batches: list[Batch] = []
        while sum(len(r) for b in batches for r in b.values()) < MANY + FEW:
            batch = await take_fairly(consumer, timeout_ms=5_000, max_records=BATCH)
            assert batch, "the records stopped coming"
            batches.append(batch)
        return batches


def test_a_batch_takes_a_share_of_each_partition_at_hand(stack: RunningStack) -> None:
    """aiokafka alone hands out one partition's fetch until it is used up: 3,000 records in batches of 200 before
    the other partition's first."""
    bootstrap = stack.settings.bootstrap_servers
    _, many, few = probe_topics(bootstrap, "fair", 1)
    _fill(bootstrap, many, MANY)
    _fill(bootstrap, few, FEW)
    tps = [TopicPartition(many, 0), TopicPartition(few, 0)]
    batches = asyncio.run(_batches(bootstrap, tps))
    for tp, count in ((tps[0], MANY), (tps[1], FEW)):
        values = [r.value for b in batches for r in b.get(tp, [])]
        assert values == [f"{tp.topic}:{i}".encode() + b"x" * 300 for i in range(count)]  # in order, each once
    shares = [{tp.topic: len(r) for tp, r in b.items()} for b in batches]
    # the few go in the first batches, half of each, beside as many of the many; then the many fill the batches
    assert shares[:FEW // (BATCH // 2)] == [{many: BATCH // 2, few: BATCH // 2}] * (FEW // (BATCH // 2)), shares[:4]
    assert all(s == {many: BATCH} for s in shares[FEW // (BATCH // 2):-1]), shares
