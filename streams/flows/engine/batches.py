"""Producing a committed batch's records a record batch per topic-partition, not record by record.

aiokafka's ``send`` costs a coroutine, a metadata wait, a partitioner call (pure-Python murmur2), and an
accumulator append for every record; for the engine, which writes each record it emits and each store
change inside one transaction per batch, that was half its time. Here the records are grouped per
topic-partition into aiokafka ``BatchBuilder``s (the C record-batch builder) and each full builder is
handed over with one ``send_batch``. A record the flow emitted goes to the partition Kafka's default
partitioner would choose (murmur2 of the key bytes, made positive, modulo the partition count), so a
consumer sees the partitioning it would with ``send``; a record without a key goes to a random partition,
as with ``send``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2


class KeyPartitioner:
    """The partition of a record as the default partitioner picks it, with the hash of recent keys cached
    (a flow sees the same keys again and again; murmur2 is pure Python)."""

    __slots__ = ("_cache_size", "_hashes")

    def __init__(self, cache_size: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._cache_size = cache_size

    def partition(self, key: bytes | None, partitions: int) -> int:
        if partitions == 1:
            return 0
        if key is None:
            return random.randrange(partitions)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._cache_size:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return hashed % partitions


#: One record to produce: topic, partition (``None``: by key), key, value, headers (a list, as the builder needs).
OutRecord = tuple[str, int | None, bytes | None, bytes | None, list[tuple[str, bytes]]]

#: The headers of a record that has none: one list shared by all of them (never changed), not a new one per record.
NO_HEADERS: list[tuple[str, bytes]] = []


async def send_batched(producer: AIOKafkaProducer, records: Iterable[OutRecord], partitioner: KeyPartitioner, *,
                       last: dict[tuple[str, int], tuple[asyncio.Future[Any], int]] | None = None,
                       sent_to: list[tuple[str, int]] | None = None,
                       futures: list[asyncio.Future[Any]] | None = None) -> list[asyncio.Future[Any]]:
    """Queue ``records`` on ``producer`` (in the open transaction, if it is transactional), keeping their
    order within each topic-partition; returns the futures of the record batches, done once acknowledged.

    ``last`` receives, per topic-partition, the future of its last record batch and how many records that batch
    holds: the batch's offset (its future's result) plus that count is the offset after the last record.
    ``sent_to`` receives the topic-partition of each record batch, in the order of the futures (which batch the
    broker refused). ``futures``, if given, receives the futures as they are made and is returned: those of a call
    that fails part way are there too."""
    partition_counts: dict[str, int] = {}
    builders: dict[tuple[str, int], Any] = {}
    sizes: dict[tuple[str, int], int] = {}
    futures = [] if futures is None else futures
    for topic, partition, key, value, headers in records:
        if partition is None:
            count = partition_counts.get(topic)
            if count is None:
                count = partition_counts[topic] = len(await producer.partitions_for(topic))
            partition = partitioner.partition(key, count)
        tp = (topic, partition)
        builder = builders.get(tp)
        if builder is None:
            builder = builders[tp] = producer.create_batch()
            sizes[tp] = 0
        if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            # Full: hand it over and start the next one (a builder always takes its first record).
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            if sent_to is not None:
                sent_to.append(tp)
            builder = builders[tp] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value, headers=headers)
            sizes[tp] = 0
        sizes[tp] += 1
    for (topic, partition), builder in builders.items():
        futures.append(future := await producer.send_batch(builder, topic, partition=partition))
        if sent_to is not None:
            sent_to.append((topic, partition))
        if last is not None:
            last[(topic, partition)] = (future, sizes[(topic, partition)])
    return futures
