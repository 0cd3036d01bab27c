"""``ISTHMUS_WORKER_MAX_REQUEST_SIZE``: the bytes of one record (and record batch) the flows produce at most."""

import asyncio

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import RECORD_BATCH_BYTES, EngineSettings, FlowProcessor
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE, MAX_REQUEST_SIZE_ENV
from streams.worker.settings import WorkerConfigError, WorkerSettings

pytestmark = pytest.mark.unit


def test_it_defaults_to_kafkas_producer_default_and_is_read_from_its_variable() -> None:
    assert WorkerSettings.env_name("max_request_size") == MAX_REQUEST_SIZE_ENV, "the fixes name this variable"
    assert DEFAULT_MAX_REQUEST_SIZE == 1048576 < 1048588, "within the brokers' default message.max.bytes"
    assert WorkerSettings.from_env({}).max_request_size == DEFAULT_MAX_REQUEST_SIZE
    assert EngineSettings(bootstrap_servers="k:9092").max_request_size == DEFAULT_MAX_REQUEST_SIZE
    assert WorkerSettings.from_env({MAX_REQUEST_SIZE_ENV: str(16 << 20)}).max_request_size == 16 << 20


def test_a_value_out_of_bounds_is_named_with_its_fix() -> None:
    with pytest.raises(WorkerConfigError) as error:
        WorkerSettings.from_env({MAX_REQUEST_SIZE_ENV: "1000"})
    assert f"{MAX_REQUEST_SIZE_ENV}: '1000'" in str(error.value)
    assert f"unset it to use {DEFAULT_MAX_REQUEST_SIZE}" in str(error.value)


@pytest.mark.parametrize(("limit", "batch"), [(16 << 20, RECORD_BATCH_BYTES), (128 * 1024, 128 * 1024)])
def test_the_flows_producers_take_it_and_no_record_batch_is_larger(limit: int, batch: int) -> None:
    """A record batch of many small records stays within a topic whose max.message.bytes is as low as the limit."""
    processor = FlowProcessor(FlowSpec(name="sized", inputs=("in",), handler=lambda record, ctx: None),
                              EngineSettings(bootstrap_servers="127.0.0.1:9", max_request_size=limit),
                              SchemaStore.from_directory())

    async def producer_bounds() -> tuple[int, int]:
        producer = processor._producer_for(0)  # not started
        try:
            return producer._max_request_size, producer._message_accumulator._batch_size
        finally:
            await producer.stop()

    assert asyncio.run(producer_bounds()) == (limit, batch)
