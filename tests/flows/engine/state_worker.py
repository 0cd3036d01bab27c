"""A worker for the state-on-disk test: counts records per key in a RocksDB store and forwards each with its count.

Configured by environment: STATE_BROKER, STATE_FLOW, STATE_IN, STATE_OUT, STATE_DIR.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, run_flows
from streams.flows.engine.stores import StateSettings

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
    await run_flows([spec], EngineSettings(bootstrap_servers=os.environ["STATE_BROKER"], batch_max_records=50,
                                           transaction_max_records=150, session_timeout_ms=10000, state=state),
                    SchemaStore.from_directory(), stop)


if __name__ == "__main__":
    asyncio.run(main())
