"""A worker fleet: the customer flow unpartitioned on 1 worker (the baseline), then in ``partitions`` partitions
(ISTHMUS_FLOW_PARTITIONS) on 1 worker and on 3, each time draining the same kind of burst: N CRM customers
committed in one transaction, until each has its ``Account create`` on the ERP command topic (read_committed).
Figures: seconds and customers/s per run, and how the partitions were spread (each worker's
``isthmus_flow_tasks`` in /metrics).

Only the worker runs (no sinks): the figure is the flows' share of the work, which is what a fleet spreads. The
keying stage (one task) and the keyed flow's tasks both count. On a 2-core machine shared with other work, the
figures are noisy, and more workers than cores compete for the CPU: read the 3-worker figure as what the layout
allows here, not as a scaling factor.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bench.exceptions import BenchError
from bench.latency import _free_port as free_port
from reference.topics import COMMANDS_ERP
from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

__all__ = ["measure"]


class _Worker:
    def __init__(self, name: str, partitions: int, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.flow = f"isthmus-customers-p{partitions}" if partitions > 1 else "isthmus-customers"
        env = {**os.environ, "ISTHMUS_WORKER_PORT": str(self.port), "ISTHMUS_WORKER_ID": name,
               "ISTHMUS_RESYNC_AT": "off", "ISTHMUS_WORKER_FLOWS": "isthmus-customers",
               "ISTHMUS_FLOW_PARTITIONS": str(partitions)}
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=env,
                                            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def tasks(self) -> int | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        wanted = {"worker": self.name, "flow": self.flow}
        return next((int(sample.value) for family in text_string_to_metric_families(text)
                     for sample in family.samples if sample.name == "isthmus_flow_tasks" and sample.labels == wanted),
                    None)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class _Creates:
    """Account creates on the ERP command topic from its end at creation, by customer number."""

    def __init__(self, bootstrap: str) -> None:
        self.schemas = SchemaStore.from_directory()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", group_id=None,
                                      enable_auto_commit=False)
        tps = [TopicPartition(COMMANDS_ERP, p) for p in sorted(self.consumer.partitions_for_topic(COMMANDS_ERP)
                                                                or {0})]
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)
        self.numbers: set[str] = set()

    def wait(self, wanted: set[str], deadline: float) -> bool:
        while not wanted <= self.numbers:
            if time.monotonic() > deadline:
                return False
            for records in self.consumer.poll(timeout_ms=200).values():
                for r in records:
                    if r.key is None or r.value is None or r.key.decode() not in wanted:
                        continue
                    command = self.schemas.decode(r.value).value
                    if command["payload_type"].endswith("Account") and command["operation"] == "create":
                        self.numbers.add(r.key.decode())
        return True

    def close(self) -> None:
        self.consumer.close()


def _insert(stack: RunningStack, numbers: list[str]) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute("INSERT INTO crm.customers (customer_number, name, email) "
                     "SELECT n, 'Fleet bench ' || n, lower(n) || '@bench.test' FROM unnest(%s::text[]) AS n",
                     (numbers,))


def _run(stack: RunningStack, workers: int, partitions: int, customers: int, timeout_s: float,
         logs: Path) -> dict[str, object]:
    block = random.SystemRandom().randrange(100, 999)
    fleet = [_Worker(f"bench-fleet-{workers}-{i}", partitions, logs) for i in range(workers)]
    creates: _Creates | None = None
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            spread = [w.tasks() for w in fleet]
            if all(t for t in spread) and sum(t or 0 for t in spread) == partitions:
                break
            if time.monotonic() > deadline or any(w.process.poll() is not None for w in fleet):
                raise BenchError(f"fleet of {workers}: partitions not spread ({spread}); see {logs}")
            time.sleep(0.5)
        # Only now: on a fresh stack the ERP command topic exists once a worker has started its flows.
        creates = _Creates(stack.settings.bootstrap_servers)
        warm = f"C-69{block:03d}{0:06d}"
        _insert(stack, [warm])  # the fleet has caught up once this one is through
        if not creates.wait({warm}, deadline):
            raise BenchError(f"fleet of {workers}: the warm-up customer got no Account create; see {logs}")
        numbers = [f"C-6{workers}{partitions}{block:03d}{i:06d}" for i in range(1, customers + 1)]
        began = time.monotonic()
        _insert(stack, numbers)
        drained = creates.wait(set(numbers), began + timeout_s)
        seconds = time.monotonic() - began
        return {"workers": workers, "partitions": partitions, "customers": customers, "spread": spread,
                "seconds": round(seconds, 2) if drained else None, "drained": len(creates.numbers & set(numbers)),
                "per_second": round(customers / seconds, 1) if drained else None}
    finally:
        if creates is not None:
            creates.close()
        for worker in fleet:
            worker.stop()


def measure(stack: RunningStack, *, customers: int, partitions: int, timeout_s: float,
            logs: Path) -> dict[str, object]:
    """One burst of ``customers`` through one worker with the flow unpartitioned (the baseline: no keying stage),
    then through a fleet of 1 and of 3 workers with the flow in ``partitions`` partitions."""
    if cli_main(["connectors", "deploy"]) != 0:
        raise BenchError("the connectors could not be deployed; see the messages above")
    runs = [_run(stack, workers, n, customers, timeout_s, logs) for workers, n in ((1, 1), (1, partitions),
                                                                                   (3, partitions))]
    return {"customers": customers, "partitions": partitions, "runs": runs}
