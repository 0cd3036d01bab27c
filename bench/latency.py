"""End-to-end latency: a CRM customer insert committed in PostgreSQL until its ERP account is applied.

The real pipeline runs: the Debezium connectors (deployed from connect-configs/), the flows in two
`isthmus worker` processes (:data:`WORKERS`) and both sinks (`isthmus sink`). New customers are inserted into the CRM
database at a fixed rate (one transaction per 10 ms tick); each row's source commit time is taken right
after its transaction commits. Its applied time is the ``applied_at`` of the ERP sink's CommandResult for
that customer (the sink's time of the ERP API's acknowledgement). Both clocks are this machine's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from bench import cpu, inside
from bench.exceptions import BenchError
from bench.memory_worker import vm_hwm_kib
from bench.report import RESULTS_DIR, percentile
from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.admin import LagRow, lag
from streams.kafka import names
from streams.sinks.settings import metrics_port_offset
from streams.sinks.topics import results_topic, sink_group
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT
from streams.systems import load_systems

TICK_S = 0.01
#: Before each rate, the CPU the idle pipeline and stack use is measured this long (:func:`bench.cpu.idle_rates`).
IDLE_S = 10.0
#: This process in the figures of CPU: it inserts the changes and reads the ERP's results.
BENCH_PROCESS = "bench (load generator, results reader)"
#: The warm-up customer waits behind whatever the pipeline still has to do (a backlog of earlier runs, a flow
#: reading its inputs from the start), so the measured rates start on an idle pipeline.
WARM_UP_S = 600.0
#: A partition counts as read to its end at this lag: the offset of the commit marker after a transaction,
#: which a read_committed consumer never gets as a record and so never commits past.
SETTLED_LAG = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The flows' worker processes (``ISTHMUS_WORKER_FLOWS`` of each): the customer flow, which every change
#: measured here goes through, in a process of its own, the other flows in a second one. One process for
#: every flow measured the customer flow waiting behind the orders and canonical flows' batches on the one
#: event loop (py-spy: the customer flow 48 % of that worker's samples, orders 23 %, canonical 7.5 %).
WORKERS: dict[str, str] = {
    "worker-customers": "isthmus-customers",
    "worker-others": "isthmus-orders,isthmus-stock,isthmus-canonical",
}


@contextmanager
def pipeline(logs: Path, metrics_ports: dict[str, int] | None = None) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Connectors deployed, the flows' workers (:data:`WORKERS`) and both sinks running until the block ends.
    Each process serves /metrics on a free port, written into ``metrics_ports`` (process name -> port)."""
    if cli_main(["connectors", "deploy"]) != 0:
        raise BenchError("the connectors could not be deployed; see the messages above")
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ISTHMUS_RESYNC_AT": "off"}
    ports = metrics_ports if metrics_ports is not None else {}
    ports.update({name: _free_port() for name in (*WORKERS, "sink-erp", "sink-crm")})
    launches = {name: (["worker"], {"ISTHMUS_WORKER_FLOWS": flows, "ISTHMUS_WORKER_PORT": str(ports[name])})
                for name, flows in WORKERS.items()}
    # ISTHMUS_SINK_METRICS_PORT is the first writable system's port, the others' are above it by their place.
    writable = load_systems().writable
    launches |= {f"sink-{system}": (["sink", "--target", system], {"ISTHMUS_SINK_METRICS_PORT": str(
                     ports[f"sink-{system}"] - metrics_port_offset(system, writable))}) for system in ("erp", "crm")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, (args, extra) in launches.items():
        with open(logs / f"{name}.log", "wb") as out:
            processes[name] = subprocess.Popen([sys.executable, "-m", "streams.cli.main", *args],
                                               env={**env, **extra}, cwd=PROJECT_ROOT, stdout=out,
                                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield processes
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def pipeline_groups() -> list[str]:
    """The consumer groups of the pipeline's processes: each flow of :data:`WORKERS`, each sink."""
    flows = [flow for listed in WORKERS.values() for flow in listed.split(",")]
    return [names.group(flow) for flow in flows] + [names.group(sink_group(system)) for system in ("erp", "crm")]


def settle(stack: RunningStack, *, timeout_s: float, label: str, groups: list[str] | None = None) -> float:
    """Wait until every partition the pipeline's groups (or ``groups``) commit to is read to its end (lag at most
    :data:`SETTLED_LAG`), twice in a row; the seconds it took. A warm-up customer shows that its own path is
    through, not that the flows have caught up with the rest of an earlier step's backlog (another topic, another
    partition), which would otherwise compete for the CPU with the first seconds measured. Raises ``BenchError``
    naming the partitions still behind after ``timeout_s``."""
    began = time.monotonic()
    groups = groups if groups is not None else pipeline_groups()
    settled = 0
    behind: list[LagRow] = []
    while time.monotonic() - began < timeout_s:
        behind = [row for row in lag(stack.settings.bootstrap_servers, groups)
                  if row.lag is not None and row.lag > SETTLED_LAG]
        settled = 0 if behind else settled + 1
        if settled == 2:
            return time.monotonic() - began
        time.sleep(2)
    worst = ", ".join(f"{r.group} {r.topic}[{r.partition}] lag {r.lag:,}" for r in
                      sorted(behind, key=lambda r: -(r.lag or 0))[:5])
    raise BenchError(f"{label}: the pipeline still had a backlog after {timeout_s:.0f}s ({worst}); "
                     f"see {RESULTS_DIR / 'logs'}")


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each pipeline process and stack service (:func:`bench.cpu.cpu_seconds`), and of this
    process (the load generator and the results reader; its own time only, not the pipeline it started)."""
    return {**cpu.cpu_seconds(pids), BENCH_PROCESS: round(time.process_time(), 1)}


def worker_peaks_mib(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """Peak resident set (VmHWM) so far of each of the pipeline's worker processes still running, in MiB."""
    peaks = {}
    for name, process in processes.items():
        if name in WORKERS and process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                peaks[name] = round(vm_hwm_kib(Path(f"/proc/{process.pid}/status").read_text()) / 1024, 1)
    return peaks


@dataclass
class Applied:
    """CommandResults of ERP account creations, read as they are committed: customer number -> applied time."""

    bootstrap: str
    at: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            store = SchemaStore.from_directory()
            topic = results_topic("erp")
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, isolation_level="read_committed",
                                     group_id=None, enable_auto_commit=False)
            try:
                tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
                consumer.assign(tps)
                consumer.seek_to_end(*tps)
                while not self.stop.is_set():
                    for records in consumer.poll(timeout_ms=200).values():
                        for r in records:
                            if r.value is None:
                                continue
                            result: dict[str, Any] = dict(store.decode(r.value).value)
                            if result.get("operation") == "create" and result.get("entity_key"):
                                self.at.setdefault(str(result["entity_key"]), _epoch(result["applied_at"]))
            finally:
                consumer.close()
        except BaseException as exc:  # handed to the measuring thread
            self.error = exc


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, (int, float)):
        return float(value) / (1000 if value > 1e11 else 1)
    raise BenchError(f"a CommandResult applied_at of type {type(value).__name__} ({value!r}) is not a time")


def _first_seen(bootstrap: str, topic: str, wanted: set[str], key_of: Any, since_ms: int) -> dict[str, int]:
    """The Kafka timestamp (ms) of the first committed record of each wanted key in ``topic``, reading from
    the first record at or after ``since_ms`` (not the whole topic, which holds every earlier run)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", group_id=None,
                             enable_auto_commit=False)
    seen: dict[str, int] = {}
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for r in records:
                    key = key_of(r)
                    if key in wanted and key not in seen:
                        seen[key] = r.timestamp
    finally:
        consumer.close()
    return seen


def _cdc_number(record: Any) -> str | None:
    if not record.value:
        return None
    value = json.loads(record.value)
    after = (value.get("payload", value) or {}).get("after") or {}
    number = after.get("customer_number")
    return str(number) if number else None


def _record_key(record: Any) -> str | None:
    return record.key.decode() if record.key else None


def stages(bootstrap: str, numbers: list[str], committed: dict[str, float],
           applied: dict[str, float]) -> dict[str, dict[str, float]]:
    """Where the time went, by the Kafka timestamps of each change's first CDC record and ERP command."""
    wanted = set(numbers)
    since_ms = int(min(committed[n] for n in numbers) * 1000) - 60_000
    cdc = _first_seen(bootstrap, "crm.crm.customers", wanted, _cdc_number, since_ms)
    command = _first_seen(bootstrap, "isthmus.commands.erp", wanted, _record_key, since_ms)
    spans = {
        "commit → CDC record produced (Debezium, Connect)": [cdc[n] / 1000 - committed[n] for n in numbers if n in cdc],
        "CDC record produced → ERP command produced (Connect commit, worker)":
            [(command[n] - cdc[n]) / 1000 for n in numbers if n in cdc and n in command],
        "ERP command produced → applied (worker commit, sink, ERP API)":
            [applied[n] - command[n] / 1000 for n in numbers if n in command and n in applied],
    }
    return {name: {"p50_s": percentile(v, 50), "p95_s": percentile(v, 95), "p99_s": percentile(v, 99)}
            for name, v in spans.items() if v}


def describe_cpu(per_change: dict[str, float]) -> str:
    """``cpu_ms_per_change`` of a rate (:func:`bench.cpu.per_change`) in words."""
    if not per_change:
        return "not measured"
    parts = {k: v for k, v in per_change.items() if k not in _SUMMARY}
    return (f"{per_change['total_ms']:.2f} ms a change over every process; idle, they use "
            f"{per_change['idle_cores']:.2f} of {per_change['cores']:.0f} cores, and each change costs "
            f"{per_change['marginal_ms']:.2f} ms more, so the cores carry at most ~{per_change['ceiling_per_s']:,.0f} "
            "changes/s at this cost; ms a change beyond idle: " + ", ".join(f"{name} {ms:.2f}"
                                                                              for name, ms in parts.items()))


_SUMMARY = ("total_ms", "idle_cores", "marginal_ms", "cores", "ceiling_per_s")


def customer_numbers(run: int, count: int) -> list[str]:
    """Numbers no other run or generator uses: ``C-7<run, 3 digits><sequence, 6 digits>``."""
    return [f"C-7{run:03d}{i:06d}" for i in range(count)]


def _insert(stack: RunningStack, numbers: list[str], rate: int) -> dict[str, float]:
    """Insert ``numbers`` at ``rate`` per second; each number's commit time."""
    committed: dict[str, float] = {}
    per_tick = max(1, round(rate * TICK_S))
    began = time.monotonic()
    with stack.connect_crm() as conn:
        for start in range(0, len(numbers), per_tick):
            due = began + (start / rate)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            chunk = numbers[start:start + per_tick]
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
                                [(n, f"Bench {n}", f"{n.lower()}@bench.example") for n in chunk])
            now = time.time()
            committed.update(dict.fromkeys(chunk, now))
    behind = time.monotonic() - began - len(numbers) / rate
    if behind > 2:
        raise BenchError(f"the load generator fell {behind:.1f}s behind {rate}/s; the rate was not held")
    return committed


def _wait(applied: Applied, wanted: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not wanted <= applied.at.keys():
        if applied.error is not None:
            raise BenchError(f"reading the ERP results failed: {applied.error}") from applied.error
        time.sleep(0.5)


def measure(stack: RunningStack, *, rates: list[int], seconds: int, drain_s: float) -> list[dict[str, object]]:
    run = random.randrange(1000)
    applied = Applied(bootstrap=stack.settings.bootstrap_servers)
    reader = threading.Thread(target=applied.run, daemon=True)
    results: list[dict[str, object]] = []
    ports: dict[str, int] = {}
    with pipeline(RESULTS_DIR / "logs", ports) as processes:
        pids = {**{name: p.pid for name, p in processes.items()}, **cpu.stack_pids(stack)}
        reader.start()
        warm = customer_numbers(run, 1)
        warmed = time.time()
        _insert(stack, warm, 1)
        _wait(applied, set(warm), WARM_UP_S)
        if warm[0] not in applied.at:
            raise BenchError(f"the pipeline did not create an ERP account for a warm-up customer in {WARM_UP_S:.0f}s"
                             f"; see {RESULTS_DIR / 'logs'}")
        print(f"latency: warm-up customer applied after {time.time() - warmed:.0f}s", flush=True)
        offset = 1
        for rate in rates:
            waited = settle(stack, timeout_s=WARM_UP_S, label=f"latency at {rate}/s")
            print(f"latency: the pipeline read every input to its end in {waited:.0f}s; {rate}/s starts", flush=True)
            numbers = customer_numbers(run, offset + rate * seconds)[offset:]
            offset += len(numbers)
            idle = cpu.idle_rates(pids, IDLE_S)
            idle[BENCH_PROCESS] = 0.0  # its readers' polls are part of what it costs the run
            before = {name: inside.scrape(port) for name, port in ports.items()}
            cpu_before = _cpu_seconds(pids)
            cpu_began = time.monotonic()
            load_before = os.getloadavg()
            began = time.time()
            committed = _insert(stack, numbers, rate)
            load_s = time.time() - began
            load_after = os.getloadavg()
            _wait(applied, set(numbers), drain_s)
            after = {name: inside.scrape(port) for name, port in ports.items()}
            cpu_after = _cpu_seconds(pids)
            latencies = [applied.at[n] - committed[n] for n in numbers if n in applied.at]
            tail = [applied.at[n] - committed[n] for n in numbers if n in applied.at and committed[n] >= began +
                    load_s - 10]
            head = [applied.at[n] - committed[n] for n in numbers if n in applied.at and committed[n] < began + 10]
            missing = len(numbers) - len(latencies)
            result: dict[str, object] = {
                "rate": rate, "seconds": seconds, "changes": len(numbers), "load_seconds": load_s,
                "applied": len(latencies), "missing_after_drain": missing,
                "p50_s": percentile(latencies, 50) if latencies else None,
                "p95_s": percentile(latencies, 95) if latencies else None,
                "p99_s": percentile(latencies, 99) if latencies else None,
                "max_s": max(latencies) if latencies else None,
                "first_10s_p50_s": percentile(head, 50) if head else None,
                "last_10s_p50_s": percentile(tail, 50) if tail else None,
            }
            result["stages"] = stages(stack.settings.bootstrap_servers, numbers, committed, applied.at)
            result["inside"] = inside.summary(before, after)
            result["load_average_1m"] = {"before": round(load_before[0], 2), "end_of_load": round(load_after[0], 2)}
            used = result["cpu_seconds"] = cpu.spent(cpu_before, cpu_after)
            result["cpu_idle_per_s"] = idle
            result["cpu_ms_per_change"] = cpu.per_change(used, len(numbers), cores=os.cpu_count() or 1,
                                                         seconds=time.monotonic() - cpu_began, idle=idle)
            results.append(result)
            print(result, flush=True)
            print(f"latency: inside at {rate}/s: {inside.describe(result['inside'])}", flush=True)  # type: ignore[arg-type]
            print(f"latency: CPU at {rate}/s: {describe_cpu(result['cpu_ms_per_change'])}", flush=True)  # type: ignore[arg-type]
            if missing:
                break
        applied.stop.set()
        reader.join(timeout=10)
    return results
