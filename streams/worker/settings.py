"""The worker's settings: a section of the runtime settings model (streams/config), each default written once."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import _split
from streams.config.section import Section
from streams.flows.engine.processor import (
    DEFAULT_BATCH_MAX_RECORDS,
    DEFAULT_MAX_PARTITION_FETCH_BYTES,
    DEFAULT_SESSION_TIMEOUT_MS,
    DEFAULT_TRANSACTION_MAX_RECORDS,
)
from streams.flows.engine.repartition import MAX_PARTITIONS
from streams.flows.engine.stores import STORE_KINDS, StoreKind
from streams.kafka.sizes import max_request_size_field


class WorkerConfigError(RuntimeConfigError):
    """A worker setting is invalid."""


def _host_pid() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(Section):
    """``isthmus worker``: which flows, how big a transaction, where its endpoints listen."""

    NAME: ClassVar[str] = "worker"
    ERROR: ClassVar[type[WorkerConfigError]] = WorkerConfigError
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "worker_id": "ISTHMUS_WORKER_ID", "batch_max_records": "ISTHMUS_WORKER_BATCH",
        "transaction_max_records": "ISTHMUS_WORKER_TRANSACTION_RECORDS",
        "partition_fetch_bytes": "ISTHMUS_WORKER_PARTITION_FETCH_BYTES",
        "flow_partitions": "ISTHMUS_FLOW_PARTITIONS", "resync_at": "ISTHMUS_RESYNC_AT",
        "flow_plugins": "ISTHMUS_FLOW_PLUGINS", "store": "ISTHMUS_STORE", "state_dir": "ISTHMUS_STATE_DIR",
        "state_cache_mb": "ISTHMUS_STATE_CACHE_MB", "parked_hold_after_s": "ISTHMUS_PARKED_HOLD_AFTER_S"}
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_WORKER_")

    worker_id: str = Field(default_factory=_host_pid, description="name of this worker in logs, dead letters and "
                           "metrics (default: host-pid); the warehouse loader takes it as its name too")
    host: str = Field("127.0.0.1", description="address /health, /ready and /metrics bind to (the local stack "
                      "offers its own)")
    port: int = Field(18090, ge=0, le=65535, json_schema_extra={"expect": "a port (0-65535, 0: a free one)"},
                      description="port of /health, /ready and /metrics (0 picks a free one)")
    flows: Annotated[frozenset[str] | None, NoDecode] = Field(
        None, description="comma-separated flow names to run (default: every registered flow); only these are "
        "built, and one whose mapping files are missing is left out with an ERROR (and under 'unavailable' on "
        "/health) while the others run; none left fails the start")
    flow_plugins: str | None = Field(
        None, description="comma-separated own flows, each [flow-name=]module:function; with a name the flow is "
        "built only when selected (read by streams/flows/registry.py)")
    batch_max_records: int = Field(DEFAULT_BATCH_MAX_RECORDS, ge=1, le=100000,
                                   description="records a fetch hands a flow at most")
    transaction_max_records: int = Field(
        DEFAULT_TRANSACTION_MAX_RECORDS, ge=1, le=1000000,
        description="records per transaction at most: the batches fetched while a task's transaction commits are "
        "handled into its next one, which starts as soon as that one has committed (no added wait); below twice "
        "ISTHMUS_WORKER_BATCH, a transaction per fetched batch")
    partition_fetch_bytes: int = Field(
        DEFAULT_MAX_PARTITION_FETCH_BYTES, ge=64 * 1024, le=256 * 1024 * 1024,
        description="bytes one fetch brings of a partition at most (Kafka's max.partition.fetch.bytes, as stored: "
        "compressed if the topic is); it bounds the memory a partition's prefetch takes, and a fetch must hold a "
        "batch's worth of records (ISTHMUS_WORKER_BATCH) for batches to fill")
    max_request_size: int = max_request_size_field(
        "the flows produce", "a record over it is not produced, the input record it came from is dead-lettered "
        "naming the topic and the size, and the flow goes on", "the topics the flows write (outputs, changelogs, "
        "isthmus.dlq)")
    session_timeout_ms: int = Field(
        DEFAULT_SESSION_TIMEOUT_MS, ge=6000, le=300000, description="how long the group waits for a silent worker "
        "before its flows move to another, and so how long a worker restarted after a kill -9 or a crash waits to "
        "join its group (once per member that stopped without leaving it); a session that expires wrongly costs a "
        "rebalance, not exactly-once (the task's next owner fences the old producer)")
    flow_partitions: int = Field(
        1, ge=1, le=MAX_PARTITIONS, description="partitions of the flows that declare a key (customers by customer "
        "number, stock by SKU): with N > 1 a keying stage spreads them over N tasks that a fleet of workers shares; "
        "every worker of a fleet needs the same value (1: the flows run on the one-partition CDC topics as they are)")
    resync_at: Annotated[tuple[int, int] | None, NoDecode] = Field(
        (2, 0), json_schema_extra={"default": "02:00"},
        description="UTC time HH:MM of the daily master-data re-sync, or 'off'")
    store: StoreKind = Field(
        "memory", json_schema_extra={"expect": f"one of {', '.join(STORE_KINDS)}"},
        description="where the flows keep their state: 'memory' (rebuilt from the whole changelog at every start; "
        "memory grows with the keys) or 'rocksdb' (on disk under ISTHMUS_STATE_DIR, memory bounded by "
        "ISTHMUS_STATE_CACHE_MB, a start reads only the changelog written since the last commit)")
    state_dir: Path | None = Field(
        None, json_schema_extra={"default": "<ISTHMUS_HOME>/state"},
        description="folder of the rocksdb state, <flow>/<store>/<partition> under it; one per worker on a machine, "
        "and deleting it is safe (the changelogs rebuild it)")
    state_cache_mb: int = Field(64, ge=8, le=65536, description="memory of the rocksdb state (block cache, write "
                                "buffers included; the files' indexes and filters, ~1 % of the state on disk, "
                                "come on top), MiB")

    parked_hold_after_s: float = Field(
        300.0, ge=0, description="seconds a change may wait for a look-up not known yet (parked) before its flow "
        "writes a hold (cause waiting_for) on isthmus.holds; a released record follows when it goes on")

    @field_validator("flows", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        names = _split(value)
        return frozenset(names) or None if isinstance(names, list) else names

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind = value.strip().lower()
        if kind not in STORE_KINDS:
            raise ValueError(f"{value!r} is not one of {', '.join(STORE_KINDS)}")
        return kind

    @field_validator("resync_at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text == "off":
            return None
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
        if not match:
            raise ValueError(f"{value!r} is not HH:MM (UTC) or 'off'")
        return int(match.group(1)), int(match.group(2))

    def shown(self, field: str) -> str | None:
        if field == "resync_at":
            return "off" if self.resync_at is None else f"{self.resync_at[0]:02d}:{self.resync_at[1]:02d}"
        return super().shown(field)
