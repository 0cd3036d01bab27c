"""Peak resident memory (VmHWM) of a worker process whose store holds one entry per key, and the time a worker
started again over that state takes to be ready, with the state in memory or on disk (RocksDB)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.exceptions import BenchError
from bench.throughput import delete_topics, produce
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.settings import PROJECT_ROOT


def _worker(bootstrap: str, topic: str, records: int, timeout_s: float, state_dir: Path | None) -> dict[str, int]:
    state = [str(state_dir)] if state_dir is not None else []
    try:
        done = subprocess.run([sys.executable, "-m", "bench.memory_worker", bootstrap, topic, str(records), *state],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"the memory worker did not hold {records:,} keys within {timeout_s:.0f}s") from exc
    if done.returncode != 0:
        raise BenchError(f"the memory worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(bootstrap: str, *, keys: int, timeout_s: float, store: str = "memory") -> dict[str, object]:
    """``store``: ``memory`` or ``rocksdb`` (in a temporary folder, removed after)."""
    prefix = f"bench-mem-{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}-in"
    state_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-state-")) if store == "rocksdb" else None
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=topic, partitions=1)]))
    try:
        asyncio.run(produce(bootstrap, topic, keys, keys))
        idle = _worker(bootstrap, topic, 0, timeout_s, state_dir)
        began = time.monotonic()
        full = _worker(bootstrap, topic, keys, timeout_s, state_dir)
        seconds = time.monotonic() - began
        restart = _worker(bootstrap, topic, -1, timeout_s, state_dir)
    finally:
        asyncio.run(delete_topics(bootstrap, prefix))
        if state_dir is not None:
            shutil.rmtree(state_dir, ignore_errors=True)
    if full["held_keys"] != keys or restart["held_keys"] != keys:
        raise BenchError(f"the memory worker held {full['held_keys']:,} keys, then {restart['held_keys']:,} after "
                         f"a restart, not {keys:,}")
    return {"keys": keys, "store": store, "held_keys": full["held_keys"], "vm_hwm_mib": full["vm_hwm_kib"] / 1024,
            "idle_vm_hwm_mib": idle["vm_hwm_kib"] / 1024, "seconds": seconds,
            "restart_ready_s": restart["ready_seconds"], "restart_replayed": restart["replayed"],
            "restart_vm_hwm_mib": restart["vm_hwm_kib"] / 1024}
