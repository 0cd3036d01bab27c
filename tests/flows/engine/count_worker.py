"""A worker for the engine's tests: counts records per key in a store and forwards each with its count.

Configured by environment: COUNT_BROKER, COUNT_FLOW, COUNT_IN, COUNT_OUT. A value ``poison`` makes the
handler raise, which must dead-letter that record and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, run_flows

OUT = os.environ["COUNT_OUT"]


def count(record: Incoming, ctx: Context) -> None:
    if record.value == b"poison":
        raise ValueError("poison record")
    key = (record.key or b"").decode()
    store = ctx.stores["counts"]
    current = (store.get(key) or {"n": 0})["n"] + 1
    store.put(key, {"n": current})
    ctx.emit(OUT, key=record.key, value=(record.value or b"") + b"|" + str(current).encode())


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    spec = FlowSpec(name=os.environ["COUNT_FLOW"], inputs=(os.environ["COUNT_IN"],), handler=count,
                    stores=("counts",), outputs=(OUT,))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_flows([spec], EngineSettings(bootstrap_servers=os.environ["COUNT_BROKER"], batch_max_records=50,
                                                   session_timeout_ms=10000),
                    SchemaStore.from_directory(), stop)


if __name__ == "__main__":
    asyncio.run(main())
