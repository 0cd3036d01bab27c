"""The ERP sink's CPU per command, without the rest of the pipeline (issue 17).

A real sink worker (``build_worker``, the ERP target file, the reference ERP API, Kafka) runs in a thread of
this process with its own command topic, results and dead-letter topics, consumer group and transactional id.
Once it has its partitions, ``commands`` Account creates (the route with a batch endpoint) and then as many
SalesOrder creates (one call each, after a lookup of the account) are produced to its topic; the figure is
the worker thread's CPU time (``pthread_getcpuclockid``: the producer in the main thread is not counted) from
just before a phase's commands are produced to the commit of its last one, divided by the commands.

A second pass of each phase runs under cProfile, which splits the worker's time into stages by the cumulative
time of the functions that begin them (their shares applied to the unprofiled figure):

- consume: ``AIOKafkaConsumer.getmany`` and ``SinkWorker._accept`` without the decode;
- decode: ``decode_command`` (Avro single-object, the payload JSON);
- group/batch: per-key scheduling, tasks, the deliverer, the adapter's rendering and the batcher, without
  the HTTP calls and the result;
- HTTP call: ``HttpAdapter._call`` and ``_batch_call`` (request, httpx/httpcore/h11, the answer's JSON);
- result encode: ``SinkWorker._result`` / ``_dead_letter`` (CommandResult Avro);
- commit/produce: ``SinkWorker._flush`` (the Kafka transaction: sends, offsets, commit);
- loop/other: the rest (asyncio's event loop, selectors, timers).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.exceptions import BenchError
from bench.report import Row
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.builtin import base_url
from streams.sinks.environment import SinkEnvironment
from streams.sinks.runner import build_worker
from streams.sinks.worker import SinkWorker
from streams.stack.offer import runtime_offer
from streams.stack.running import RunningStack

STAGES = ("consume", "decode", "group/batch", "HTTP call", "result encode", "commit/produce", "loop/other")
PHASES = ("Account create", "SalesOrder create")


@dataclass(frozen=True, kw_only=True)
class _Topics:
    commands: str
    results: str
    dlq: str


def _cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class _Sink:
    """The worker in a thread with its own event loop; ``profiling`` runs a phase under cProfile."""

    def __init__(self, worker: SinkWorker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name="bench-sink", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.worker.run(self._stop))
        except BaseException as exc:  # raised by stop()
            self.error = exc
        finally:
            self._loop.close()

    def _in_thread(self, call: Callable[[], object]) -> None:
        """Run ``call`` in the worker's thread (cProfile follows the thread that enables it) and wait for it."""
        ran = threading.Event()

        def run() -> None:
            try:
                call()
            finally:
                ran.set()

        self._loop.call_soon_threadsafe(run)
        if not ran.wait(30):
            raise BenchError("sink: the worker's event loop did not answer within 30s")

    @contextmanager
    def profiling(self, on: bool) -> Iterator[cProfile.Profile | None]:
        if not on:
            yield None
            return
        #: Timed by the thread's CPU clock: a wait (poll, sleep) costs nothing, as in the unprofiled figure.
        profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
        self._in_thread(profiler.enable)
        try:
            yield profiler
        finally:
            self._in_thread(profiler.disable)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(timeout=120)
        if self.error is not None:
            raise self.error


def _commands(run: int, count: int, sku: str, warehouse: str) -> dict[str, list[dict[str, Any]]]:
    now = datetime.now(UTC)

    def command(operation: str, payload_type: str, key: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        command_id = str(uuid.uuid4())
        return {"command_id": command_id, "idempotency_key": f"bench-sink:{command_id}", "target": "erp",
                "operation": operation, "entity_type": f"isthmus.canonical.{payload_type}", "entity_key": key,
                "payload_type": f"isthmus.canonical.{payload_type}", "payload": json.dumps(payload),
                "changed_fields": [],
                "source": {"system": "crm", "connector": "bench", "database": "crm", "table": "bench",
                           "commit_time": now},
                "causation": {"event_id": f"bench:{command_id}", "correlation_id": f"bench-{key}"},
                "created_at": now}

    numbers = [f"C-9{run:09d}{i:05d}" for i in range(count)]
    accounts = [command("create", "Account", n, {
        "account_id": None, "account_code": f"B{run:09d}{i:05d}", "crm_customer_number": n,
        "name": f"Bench account {i}", "email": f"bench{i}@example.com", "phone": None,
        "billing_address": {"kind": "billing", "line1": f"{i} Bench Road", "line2": None, "city": "Shanghai",
                            "postal_code": "200000", "country": "CN"},
        "credit_limit": "1000.00", "payment_terms": "NET30", "blocked": False, "active": True,
        "updated_at": None}) for i, n in enumerate(numbers)]
    orders = [command("create", "SalesOrder", f"SO-9{run:09d}{i:05d}", {
        "order_number": f"SO-9{run:09d}{i:05d}", "customer_number": n, "status": "submitted", "currency": "CNY",
        "ordered_at": None, "lines": [{"line_no": 1, "sku": sku, "quantity": "1.000", "unit_price": "2.50",
                                       "warehouse_code": warehouse}]}) for i, n in enumerate(numbers)]
    return {"Account create": accounts, "SalesOrder create": orders}


def _goods(erp_url: str, run: int, on_hand: int) -> tuple[str, str]:
    sku, warehouse = f"SKB-{run}", f"B{run}"
    with httpx.Client(base_url=erp_url, timeout=30) as erp:
        for method, path, body in (("POST", "/warehouses", {"code": warehouse, "name": "Bench DC"}),
                                   ("POST", "/products", {"sku": sku, "description": "Bench bolt",
                                                          "unit_price": "2.50"}),
                                   ("PUT", f"/stock/{sku}/{warehouse}", {"on_hand": f"{on_hand}.000"})):
            answer = erp.request(method, path, json=body)
            if answer.status_code >= 300:
                raise BenchError(f"sink: the ERP answered {answer.status_code} to {method} {path}: "
                                 f"{answer.text[:300]}; is the reference ERP API up (isthmus status)?")
    return sku, warehouse


async def _produce(bootstrap: str, store: SchemaStore, topic: str, commands: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        for item in commands:
            await producer.send(topic, store.encode("Command", item), key=item["entity_key"].encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _delete(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    except Exception as exc:  # best effort: a topic left behind is only litter
        print(f"bench: sink: topics {topics} not deleted ({exc!r})")
    finally:
        await admin.close()


def _wait(what: str, done: Callable[[], bool], sink: _Sink, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if sink.error is not None or not sink.thread.is_alive():
            sink.stop()
            raise BenchError(f"sink: the worker stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"sink: {what} not within {timeout_s:g}s ({sink.worker.snapshot()})")
        time.sleep(0.01)


def _stages(profiler: cProfile.Profile) -> dict[str, float]:
    """Seconds per stage from a profile of the worker thread (see the module's docstring)."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())

    def cum(file_end: str, name: str, caller: str | None = None) -> float:
        found = 0.0
        for (file, _, func), (_, _, _, ct, callers) in stats.items():
            if func == name and file.endswith(file_end):
                if caller is None:
                    found += ct
                else:
                    found += sum(c[3] for (_, _, f), c in callers.items() if f == caller)
        return found

    decode = cum("sinks/records.py", "decode_command")
    http = cum("adapters/http.py", "_call") + cum("adapters/http.py", "_batch_call")
    result = cum("sinks/worker.py", "_result") + cum("sinks/worker.py", "_dead_letter")
    out = {
        "consume": cum("aiokafka/consumer/consumer.py", "getmany") + cum("sinks/worker.py", "_accept") - decode,
        "decode": decode,
        "group/batch": (cum("sinks/worker.py", "_process") + cum("adapters/batching.py", "_send")
                        + cum("sinks/worker.py", "_dispatch", caller="_loop") - http - result),
        "HTTP call": http,
        "result encode": result,
        "commit/produce": cum("sinks/worker.py", "_flush"),
    }
    out["loop/other"] = total - sum(out.values())
    return out


def _top(profiler: cProfile.Profile, count: int = 25) -> list[str]:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:count]
    return [f"{tt:8.3f} {ct:8.3f} {nc:8d}  {file.rsplit('site-packages/', 1)[-1]}:{line} {func}"
            for (file, line, func), (_, nc, tt, ct, _) in ranked]


def _one_pass(stack: RunningStack, store: SchemaStore, *, commands: int, profile: bool,
              timeout_s: float) -> dict[str, Any]:
    bootstrap = stack.settings.bootstrap_servers
    run = int(uuid.uuid4().int % 900_000_000) + 100_000_000
    tag = f"{run}"
    topics = _Topics(commands=f"bench.sink.commands.{tag}", results=f"bench.sink.results.{tag}",
                     dlq=f"bench.sink.dlq.{tag}")
    env = {"ISTHMUS_SINK_COMMAND_TOPIC": topics.commands, "ISTHMUS_SINK_RESULTS_TOPIC": topics.results,
           "ISTHMUS_SINK_DLQ_TOPIC": topics.dlq, "ISTHMUS_SINK_GROUP_ID": f"bench-sink-{tag}",
           "ISTHMUS_SINK_TRANSACTIONAL_ID": f"bench-sink-{tag}"}
    environment = SinkEnvironment.from_env(env, stack=runtime_offer(stack.settings))
    worker = build_worker("erp", environment, store)
    erp_url = base_url(worker.config, environment)
    sku, warehouse = _goods(erp_url, run, on_hand=commands * 2)
    phases = _commands(run, commands, sku, warehouse)
    sink = _Sink(worker)
    sink.start()
    out: dict[str, Any] = {}
    try:
        _wait("its partitions", lambda: worker._consumer is not None and bool(worker._consumer.assignment()),
              sink, 60)
        done = 0
        for phase in PHASES:
            batch = phases[phase]
            with sink.profiling(profile) as profiler:
                before_cpu, began = _cpu(sink.thread), time.monotonic()
                asyncio.run(_produce(bootstrap, store, topics.commands, batch))
                done += len(batch)
                _wait(f"{len(batch)} {phase} commands committed", partial(_committed, worker, done), sink,
                      timeout_s)
                cpu = _cpu(sink.thread) - before_cpu
            figures: dict[str, Any] = {"commands": len(batch), "cpu_s": round(cpu, 3),
                                       "wall_s": round(time.monotonic() - began, 2),
                                       "cpu_us_per_command": round(cpu / len(batch) * 1e6)}
            if profiler is not None:
                figures["profile"] = {"seconds": _stages(profiler), "top": _top(profiler)}
            out[phase] = figures
        out["stats"] = worker.stats.as_dict()
    finally:
        sink.stop()
        asyncio.run(_delete(bootstrap, [topics.commands, topics.results, topics.dlq]))
    return out


def _committed(worker: SinkWorker, count: int) -> bool:
    return worker.stats.committed >= count


def measure(stack: RunningStack, *, commands: int, passes: int, timeout_s: float) -> dict[str, Any]:
    """``passes`` unprofiled passes (each with fresh topics, group and customers) and one profiled pass."""
    store = SchemaStore.from_directory()
    plain = [_one_pass(stack, store, commands=commands, profile=False, timeout_s=timeout_s) for _ in range(passes)]
    profiled = _one_pass(stack, store, commands=commands, profile=True, timeout_s=timeout_s)
    result: dict[str, Any] = {"commands_per_phase": commands, "passes": passes, "phases": {}}
    for phase in PHASES:
        per = sorted(p[phase]["cpu_us_per_command"] for p in plain)
        median = per[len(per) // 2]
        seconds: dict[str, float] = profiled[phase]["profile"]["seconds"]
        whole = sum(seconds.values()) or 1.0
        result["phases"][phase] = {
            "cpu_us_per_command_median": median, "cpu_us_per_command_runs": per,
            "wall_s_runs": [p[phase]["wall_s"] for p in plain],
            "stages_us_per_command": {name: round(median * seconds[name] / whole) for name in STAGES},
            "profiled_top_own_s": profiled[phase]["profile"]["top"],
        }
    return result


def rows(result: Mapping[str, Any], *, machine: str, measured: str) -> list[Row]:
    out = []
    for phase, figures in result["phases"].items():
        stages = ", ".join(f"{name} {us:,}" for name, us in figures["stages_us_per_command"].items())
        out.append(Row(benchmark="ERP sink CPU",
                       figure=f"{phase}: worker CPU µs per command, {result['commands_per_phase']:,} commands "
                              f"(median of {result['passes']} passes; stages from one cProfile pass)",
                       value=f"{figures['cpu_us_per_command_median']:,} µs ({stages})", machine=machine,
                       measured=measured))
    return out
