"""A flow run as a worker fleet runs it, without Kafka: its keying stage over the records, then each partition's
keyed flow over what the stage routed there (partitioned as the producer's default partitioner does)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner

from streams.flows.engine.api import FlowSpec, Incoming
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned


def fleet_runs(spec: FlowSpec, records: Sequence[tuple[str, bytes | None, bytes | None]], partitions: int = 3
               ) -> list[LocalRun]:
    """The keyed flows' runs, one per partition the stage routed records to, each fed its records in order."""
    laid = partitioned(spec, partitions)
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([stage.record(topic, key, value) for topic, key, value in records]))
    every = list(range(partitions))
    partitioner = DefaultPartitioner()
    by_partition: dict[int, list[Incoming]] = defaultdict(list)
    for offset, out in enumerate(stage.context.emitted):
        assert out.key is not None
        p = partitioner(out.key, every, every)
        by_partition[p].append(Incoming(topic=out.topic, partition=p, offset=offset, key=out.key, value=out.value,
                                        timestamp_ms=0, headers=out.headers))
    runs = []
    for part in by_partition.values():
        run = LocalRun(laid.flow)
        asyncio.run(run.feed(part))
        runs.append(run)
    return runs
