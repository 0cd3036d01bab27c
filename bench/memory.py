"""Peak resident memory (VmHWM) of a worker process whose store holds one entry per key."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

from bench.exceptions import BenchError
from bench.throughput import delete_topics, produce
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.settings import PROJECT_ROOT


def _worker(bootstrap: str, topic: str, records: int, timeout_s: float) -> dict[str, int]:
    try:
        done = subprocess.run([sys.executable, "-m", "bench.memory_worker", bootstrap, topic, str(records)],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"the memory worker did not hold {records:,} keys within {timeout_s:.0f}s") from exc
    if done.returncode != 0:
        raise BenchError(f"the memory worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(bootstrap: str, *, keys: int, timeout_s: float) -> dict[str, object]:
    prefix = f"bench-mem-{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}-in"
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=topic, partitions=1)]))
    try:
        asyncio.run(produce(bootstrap, topic, keys, keys))
        idle = _worker(bootstrap, topic, 0, timeout_s)
        began = time.monotonic()
        full = _worker(bootstrap, topic, keys, timeout_s)
        seconds = time.monotonic() - began
    finally:
        asyncio.run(delete_topics(bootstrap, prefix))
    if full["held_keys"] != keys:
        raise BenchError(f"the memory worker held {full['held_keys']:,} keys, not {keys:,}")
    return {"keys": keys, "held_keys": full["held_keys"], "vm_hwm_mib": full["vm_hwm_kib"] / 1024,
            "idle_vm_hwm_mib": idle["vm_hwm_kib"] / 1024, "seconds": seconds}
