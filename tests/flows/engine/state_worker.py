"""A worker for the state-on-disk test: counts records per key in a RocksDB store and forwards each with its count.

Configured by environment: STATE_BROKER, STATE_FLOW, STATE_IN, STATE_OUT, STATE_DIR; STATE_PORT (optional): serve
the worker's /health, /ready and /metrics there; STATE_SESSION_MS (optional, default 10000): the group's session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.stores import StateSettings
from streams.worker.web import build_app, start_endpoints

OUT = os.environ["STATE_OUT"]


def count(record: Incoming, ctx: Context) -> None:
    key = (record.key or b"").decode()
    store = ctx.stores["counts"]
    current = (store.get(key) or {"n": 0})["n"] + 1
    store.put(key, {"n": current})
    ctx.emit(OUT, key=record.key, value=(record.value or b"") + b"|" + str(current).encode())


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    spec = FlowSpec(name=os.environ["STATE_FLOW"], inputs=(os.environ["STATE_IN"],), handler=count,
                    stores=("counts",), outputs=(OUT,))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    state = StateSettings(kind="rocksdb", directory=Path(os.environ["STATE_DIR"]), cache_mb=16)
    settings = EngineSettings(bootstrap_servers=os.environ["STATE_BROKER"], batch_max_records=50,
                              transaction_max_records=150,
                              session_timeout_ms=int(os.environ.get("STATE_SESSION_MS", "10000")), state=state)
    processor = FlowProcessor(spec, settings, SchemaStore.from_directory())
    port = os.environ.get("STATE_PORT")
    runner = None
    if port is not None:
        runner, _ = await start_endpoints(build_app("state-worker", [processor], {}), host="127.0.0.1", port=int(port))
    try:
        await processor.run(stop)
    finally:
        if runner is not None:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
