"""Restart to ready of the customer flow's worker over the state an initial sync left (issue 17's target:
< 60 s at 1,000,000 customers), as the memory benchmark measures it for its small flow: a worker process
started again, timed from its start to its ``/ready`` answering 200 (every task's producer started, its
stores restored, its inputs positioned); with its peak RSS and the changelog records it replayed (its log's
``changelog records replayed`` lines)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.exceptions import BenchError
from bench.latency import WORKERS, _free_port
from bench.memory_worker import vm_hwm_kib
from streams.stack.settings import PROJECT_ROOT

_REPLAYED = re.compile(r"store (\S+): (\d+) changelog records replayed")


def replayed(log_text: str) -> dict[str, int]:
    """Changelog records each store replayed at the start, from a worker's log (the last start's lines win)."""
    return {store: int(count) for store, count in _REPLAYED.findall(log_text)}


def measure(logs: Path, *, process: str = "worker-customers", timeout_s: float = 600.0) -> dict[str, object]:
    """Start ``process`` (a :data:`bench.latency.WORKERS` entry) again and time it to ready; stop it after."""
    port = _free_port()
    log_path = logs / f"{process}-restart.log"
    env = {**os.environ, "ISTHMUS_RESYNC_AT": "off", "ISTHMUS_WORKER_FLOWS": WORKERS[process],
           "ISTHMUS_WORKER_PORT": str(port)}
    began = time.monotonic()
    with open(log_path, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=env, cwd=PROJECT_ROOT,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready_s = None
        while time.monotonic() - began < timeout_s and worker.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5.0).status_code == 200:
                    ready_s = time.monotonic() - began
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        peak = vm_hwm_kib(Path(f"/proc/{worker.pid}/status").read_text()) / 1024 if worker.poll() is None else None
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    if ready_s is None:
        raise BenchError(f"{process} started again was not ready within {timeout_s:.0f}s; see {log_path}")
    stores = replayed(log_path.read_text(errors="replace"))
    return {"process": process, "ready_seconds": round(ready_s, 1), "peak_rss_mib": round(peak or 0.0, 1),
            "changelog_records_replayed": sum(stores.values()), "replayed_per_store": stores}
