"""A worker process for the memory benchmark: holds one store entry per key, then prints its VmHWM.

``python -m bench.memory_worker BOOTSTRAP TOPIC RECORDS [STATE_DIR]`` runs the exactly-once engine over TOPIC
until RECORDS records are processed and stored; RECORDS 0 only loads the same modules (an idle worker); RECORDS
-1 starts again over what an earlier run committed and stops once its tasks are ready (restart to ready: the
state rebuilt, from the whole changelog in memory or from the checkpoint on disk). With STATE_DIR the store is
RocksDB under it, else in memory.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.stores import StateSettings


def vm_hwm_kib(status: str) -> int:
    """``VmHWM`` (peak resident set) from /proc/<pid>/status text, in KiB."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError("no VmHWM line in the status text")


def hold(record: Incoming, ctx: Context) -> None:
    ctx.stores["held"].put((record.key or b"").decode(), json.loads(record.value or b"{}"))


async def main(bootstrap: str, topic: str, records: int, state_dir: str | None) -> None:
    began = time.monotonic()
    extra: dict[str, float] = {}
    state = StateSettings(kind="rocksdb", directory=Path(state_dir)) if state_dir else StateSettings()
    if records:
        spec = FlowSpec(name=f"{topic}-holder", inputs=(topic,), handler=hold, stores=("held",))
        processor = FlowProcessor(spec, EngineSettings(bootstrap_servers=bootstrap, worker_id="bench-memory",
                                                       state=state), SchemaStore.from_directory())
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        while (processor.processed < records if records > 0 else not (processor.ready and processor.tasks)) \
                or processor._lock.locked():
            if running.done():
                running.result()
                raise SystemExit(f"the engine stopped after {processor.processed} of {records} records")
            await asyncio.sleep(0.1)
        extra = {"ready_seconds": time.monotonic() - began, "replayed": processor.replayed}
        held = sum(len(t.stores["held"]) for t in processor.tasks.values())
        stop.set()
        await running
    else:
        held = 0
    status = Path("/proc/self/status").read_text()
    print(json.dumps({"held_keys": held, "vm_hwm_kib": vm_hwm_kib(status), **extra}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
