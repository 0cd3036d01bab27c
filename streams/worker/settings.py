"""Worker settings, from the environment, each documented with its default."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.errors import IsthmusError
from streams.flows.engine.processor import DEFAULT_BATCH_MAX_RECORDS
from streams.flows.engine.repartition import MAX_PARTITIONS
from streams.flows.engine.stores import STORE_KINDS, StoreKind


class WorkerConfigError(IsthmusError):
    """A worker setting from the environment is invalid."""


DOCS: dict[str, str] = {
    "ISTHMUS_WORKER_ID": "name of this worker in logs, dead letters and metrics (default: host-pid)",
    "ISTHMUS_WORKER_PORT": "port of /health, /ready and /metrics (default 18090; 0 picks a free one)",
    "ISTHMUS_WORKER_HOST": "address /health, /ready and /metrics listen on (default: the stack's loopback host); "
                           "0.0.0.0 in a container, so that the kubelet's probes and Prometheus reach them",
    "ISTHMUS_WORKER_FLOWS": "comma-separated flow names to run (default: every registered flow); only these are "
                            "built, and one whose mapping files are missing is left out with a WARNING (and "
                            "under 'unavailable' on /health) while the others run; none left fails the start",
    "ISTHMUS_FLOW_PLUGINS": "comma-separated own flows, each [flow-name=]module:function; with a name the flow is "
                            "built only when selected (see streams/flows/registry.py)",
    "ISTHMUS_WORKER_BATCH": f"records per transaction at most (default {DEFAULT_BATCH_MAX_RECORDS})",
    "ISTHMUS_WORKER_SESSION_TIMEOUT_MS": "how long the group waits for a silent worker before its flows move to "
                                         "another (default 30000)",
    "ISTHMUS_FLOW_PARTITIONS": "partitions of the flows that declare a key (customers by customer number, stock by "
                               "SKU): with N > 1 a keying stage spreads them over N tasks that a fleet of workers "
                               "shares; every worker of a fleet needs the same value (default 1: the flows run "
                               "on the one-partition CDC topics as they are)",
    "ISTHMUS_RESYNC_AT": "UTC time HH:MM of the daily master-data re-sync, or 'off' (default 02:00)",
    "ISTHMUS_MAPPINGS_DIR": "folder of the mapping files (default: mappings/ of the project)",
    "ISTHMUS_STORE": "where the flows keep their state: 'memory' (rebuilt from the whole changelog at every start; "
                     "memory grows with the keys) or 'rocksdb' (on disk under ISTHMUS_STATE_DIR, memory bounded by "
                     "ISTHMUS_STATE_CACHE_MB, a start reads only the changelog written since the last commit) "
                     "(default memory)",
    "ISTHMUS_STATE_DIR": "folder of the rocksdb state, <flow>/<store>/<partition> under it; one per worker on a "
                         "machine, and deleting it is safe (the changelogs rebuild it) (default: "
                         "<ISTHMUS_HOME>/state)",
    "ISTHMUS_STATE_CACHE_MB": "memory of the rocksdb state (block cache, write buffers included), MiB (default 64)",
}


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    worker_id: str
    port: int = 18090
    #: None: the stack's loopback host.
    host: str | None = None
    flows: frozenset[str] | None = None
    batch_max_records: int = DEFAULT_BATCH_MAX_RECORDS
    session_timeout_ms: int = 30000
    flow_partitions: int = 1
    resync_at: tuple[int, int] | None = (2, 0)
    store: StoreKind = "memory"
    #: None: ``<stack home>/state``.
    state_dir: Path | None = None
    state_cache_mb: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        problems: list[str] = []
        worker_id = env.get("ISTHMUS_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}"
        port = _int(env, "ISTHMUS_WORKER_PORT", 18090, problems, low=0, high=65535)
        batch = _int(env, "ISTHMUS_WORKER_BATCH", DEFAULT_BATCH_MAX_RECORDS, problems, low=1, high=100000)
        session = _int(env, "ISTHMUS_WORKER_SESSION_TIMEOUT_MS", 30000, problems, low=6000, high=300000)
        partitions = _int(env, "ISTHMUS_FLOW_PARTITIONS", 1, problems, low=1, high=MAX_PARTITIONS)
        host = env.get("ISTHMUS_WORKER_HOST", "").strip() or None
        flows_raw = env.get("ISTHMUS_WORKER_FLOWS", "").strip()
        flows = frozenset(f.strip() for f in flows_raw.split(",") if f.strip()) or None
        resync_raw = env.get("ISTHMUS_RESYNC_AT", "02:00").strip().lower()
        resync: tuple[int, int] | None = None
        if resync_raw != "off":
            match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", resync_raw)
            if match:
                resync = (int(match.group(1)), int(match.group(2)))
            else:
                problems.append(f"ISTHMUS_RESYNC_AT={resync_raw!r} is not HH:MM (UTC) or 'off'")
        store_raw = env.get("ISTHMUS_STORE", "").strip().lower() or "memory"
        store: StoreKind = "memory"
        if store_raw == "rocksdb":
            store = "rocksdb"
        elif store_raw != "memory":
            problems.append(f"ISTHMUS_STORE={store_raw!r} is not one of {', '.join(STORE_KINDS)}; unset it to use "
                            "memory")
        state_dir_raw = env.get("ISTHMUS_STATE_DIR", "").strip()
        cache_mb = _int(env, "ISTHMUS_STATE_CACHE_MB", 64, problems, low=8, high=65536)
        if problems:
            raise WorkerConfigError("invalid worker settings:\n  " + "\n  ".join(problems))
        return cls(worker_id=worker_id, port=port, host=host, flows=flows, batch_max_records=batch, resync_at=resync,
                   session_timeout_ms=session, flow_partitions=partitions, store=store,
                   state_dir=Path(state_dir_raw).expanduser() if state_dir_raw else None, state_cache_mb=cache_mb)


def _int(env: Mapping[str, str], name: str, default: int, problems: list[str], *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a whole number; unset it to use {default}")
        return default
    if not low <= value <= high:
        problems.append(f"{name}={raw!r} is outside {low}..{high}; unset it to use {default}")
        return default
    return value
