"""A worker for the engine's tests: counts records per key in a store and forwards each with its count.

Configured by environment: COUNT_BROKER, COUNT_FLOW, COUNT_IN, COUNT_OUT, COUNT_COMPRESSION (the producer's
codec, ``kafka.compression_type``; default: that setting's) and COUNT_MAX_REQUEST_SIZE (the engine's
``max_request_size``; default: its default). A value ``poison`` is counted and
forwarded like any other, then the handler rejects it (``Rejected``, for a key ending in an even digit) or fails
on it (``ValueError``, otherwise): either way the engine must undo its count and its output and dead-letter that
record and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from streams.codecs.avro.single_object import SchemaStore
from streams.config import KafkaSettings
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.engine.processor import EngineSettings, run_flows

OUT = os.environ["COUNT_OUT"]


def count(record: Incoming, ctx: Context) -> None:
    key = (record.key or b"").decode()
    store = ctx.stores["counts"]
    current = (store.get(key) or {"n": 0})["n"] + 1
    store.put(key, {"n": current})
    ctx.emit(OUT, key=record.key, value=(record.value or b"") + b"|" + str(current).encode())
    if record.value == b"poison":
        if key[-1:].isdigit() and int(key[-1]) % 2 == 0:
            raise Rejected("poison record")
        raise ValueError("poison record")


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    spec = FlowSpec(name=os.environ["COUNT_FLOW"], inputs=(os.environ["COUNT_IN"],), handler=count,
                    stores=("counts",), outputs=(OUT,))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    kafka = {"bootstrap_servers": os.environ["COUNT_BROKER"]}
    if os.environ.get("COUNT_COMPRESSION"):
        kafka["compression_type"] = os.environ["COUNT_COMPRESSION"]
    limits = {"max_request_size": int(os.environ["COUNT_MAX_REQUEST_SIZE"])} if "COUNT_MAX_REQUEST_SIZE" in os.environ \
        else {}
    await run_flows([spec], EngineSettings(bootstrap_servers=KafkaSettings.model_validate(kafka),
                                           batch_max_records=50, session_timeout_ms=10000, **limits),
                    SchemaStore.from_directory(), stop)


if __name__ == "__main__":
    asyncio.run(main())
