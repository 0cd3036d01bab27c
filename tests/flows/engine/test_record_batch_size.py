"""A task's transaction produces its records in few record batches: aiokafka sends one produce request per broker
at a time, holding one record batch per partition, so each further batch of a partition is one more round trip
of the commit, one after the other."""

from __future__ import annotations

import asyncio
import json

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import DEFAULT_BATCH_MAX_RECORDS, EngineSettings, FlowProcessor

pytestmark = pytest.mark.unit


def _value(i: int) -> bytes:  # the stream-stage benchmark's record: ~80 bytes
    return json.dumps({"id": i, "name": f"customer {i}", "credit_limit": "1000.00", "active": True}).encode()


def test_a_full_batch_of_small_records_goes_out_in_one_record_batch_per_partition() -> None:
    processor = FlowProcessor(FlowSpec(name="sized", inputs=("in",), handler=lambda record, ctx: None),
                              EngineSettings(bootstrap_servers="127.0.0.1:9"), SchemaStore.from_directory())

    async def record_batches() -> int:
        producer = processor._producer_for(0)  # not started: only its record-batch builder is used
        batches, builder = 1, producer.create_batch()
        for i in range(DEFAULT_BATCH_MAX_RECORDS):
            if builder.append(timestamp=None, key=f"k{i}".encode(), value=_value(i), headers=[]) is None:
                batches, builder = batches + 1, producer.create_batch()
                builder.append(timestamp=None, key=f"k{i}".encode(), value=_value(i), headers=[])
        return batches

    # aiokafka's default (16 KiB) made that 12 record batches, 12 produce round trips per topic-partition.
    assert asyncio.run(record_batches()) == 1
