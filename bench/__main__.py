"""`python -m bench [flows] [throughput] [memory] [fleet] [latency] [initial-sync] [trace] [sink]`: run
benchmarks on the stack ISTHMUS_* points at (``flows`` needs no stack: it runs the flows' handlers without Kafka)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import fleet, flows, initial_sync, latency, memory, throughput
from bench import inside as latency_inside
from bench import sink as sink_bench
from bench import trace as trace_bench
from bench.exceptions import BenchError
from bench.machine import Machine, kafka_version, this_machine
from bench.report import RESULTS_DIR, Row, machine_label, merge, today, verdict, write_results
from bench.stack import bench_stack
from streams.errors import IsthmusError
from streams.stack.running import RunningStack

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def run_throughput(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    result = asyncio.run(throughput.measure(stack.settings.bootstrap_servers, records=args.records, keys=args.keys,
                                            profile_records=args.profile_records, timeout_s=args.timeout))
    write_results("throughput", {"machine": machine.as_dict(), **result})
    runs: dict[str, dict[str, float]] = result["runs"]  # type: ignore[assignment]
    ratio = float(result["ratio_eos_to_raw"])  # type: ignore[arg-type]
    ratio_off = float(result["ratio_no_eos_to_raw"])  # type: ignore[arg-type]
    strict = float(result["ratio_eos_to_batched"])  # type: ignore[arg-type]
    print(json.dumps(result, indent=2))
    label, when, n = machine_label(machine), today(), f"{args.records:,} records"
    work = "with the flow's work (decode, keep, state topic)"
    rows = [
        Row(benchmark="stream stage", figure=f"raw aiokafka consume→produce, auto-commit, {work}, {n}",
            value=f"{runs['raw']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure=f"raw aiokafka consume→produce, per-batch wait+commit, {work}, {n}",
            value=f"{runs['raw_wait']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure=f"raw aiokafka, per-batch wait+commit, record batches, {work}, {n}",
            value=f"{runs['raw_batched']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure=f"raw aiokafka consume→produce, per-batch wait+commit, copy only, {n}",
            value=f"{runs['raw_copy']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure=f"engine, exactly-once on, {n}",
            value=f"{runs['engine_eos']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure=f"engine, exactly-once off (bench-only), {n}",
            value=f"{runs['engine_no_eos']['per_second']:,.0f} events/s", machine=label, measured=when),
        Row(benchmark="stream stage", figure="ratio engine (exactly-once) / raw (faster raw form)",
            value=f"{ratio:.2f}", machine=label, measured=when),
        Row(benchmark="stream stage", figure="ratio engine (exactly-once off) / raw (faster raw form)",
            value=f"{ratio_off:.2f}",
            machine=label, measured=when),
        # The target is on the strict ratio: against aiokafka's per-record send the engine wins with no effort.
        Row(benchmark="stream stage", figure="ratio engine (exactly-once) / raw with record batches (strict)",
            value=f"{strict:.2f}", target="≥ 0.80", met=verdict(strict >= 0.8), machine=label, measured=when),
        Row(benchmark="stream stage", figure="ratio engine (exactly-once) / raw copy only (the ratio before issue 17)",
            value=f"{float(result['ratio_eos_to_copy']):.2f}",  # type: ignore[arg-type]
            machine=label, measured=when),
    ]
    prof: dict[str, object] = result["profile"]  # type: ignore[assignment]
    profile = "\n".join([
        f"{prof['records']:,} records through the exactly-once pass-through flow under cProfile "
        f"({float(prof['seconds_under_profiler']):.1f}s with the profiler on), {today()}:",  # type: ignore[arg-type]
        "",
        "| Function | Where | Calls | Own s | Cumulative s |",
        "|---|---|---|---|---|",
        *prof["top"],  # type: ignore[misc]
    ])
    return rows, profile


def run_memory(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    rows = []
    for store, keys in ((store, keys) for store in args.memory_stores for keys in args.memory_keys):
        result = memory.measure(stack.settings.bootstrap_servers, keys=keys, timeout_s=args.timeout, store=store)
        write_results(f"memory-{store}-{keys}", {"machine": machine.as_dict(), **result})
        print(json.dumps(result, indent=2))
        hwm = float(result["vm_hwm_mib"])  # type: ignore[arg-type]
        rows.append(Row(benchmark="worker memory",
                        figure=f"peak RSS (VmHWM) holding {keys:,} keys of state ({store} store)",
                        value=f"{hwm:,.0f} MiB (idle worker {float(result['idle_vm_hwm_mib']):,.0f} MiB)",  # type: ignore[arg-type]
                        target="< 500 MB at 1,000,000 keys",
                        met=verdict(hwm * 1.048576 < 500) if keys >= 1_000_000 else "",
                        machine=machine_label(machine), measured=today()))
        ready = float(result["restart_ready_s"])  # type: ignore[arg-type]
        rows.append(Row(benchmark="worker memory",
                        figure=f"restart to ready over {keys:,} keys of state ({store} store)",
                        value=f"{ready:,.1f}s, {int(result['restart_replayed']):,} changelog records replayed, "  # type: ignore[call-overload]
                              f"peak RSS {float(result['restart_vm_hwm_mib']):,.0f} MiB",  # type: ignore[arg-type]
                        target="< 60 s at 1,000,000 keys", met=verdict(ready < 60) if keys >= 1_000_000 else "",
                        machine=machine_label(machine), measured=today()))
    return rows, None


def _steady(result: dict[str, object]) -> bool:
    """Every change applied, and the median latency of the last 10 s within 1 s of the first 10 s'."""
    head, tail = result["first_10s_p50_s"], result["last_10s_p50_s"]
    return (result["missing_after_drain"] == 0 and isinstance(head, float) and isinstance(tail, float)
            and tail < head + 1.0)


def run_latency(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    results = latency.measure(stack, rates=args.rates, seconds=args.seconds, drain_s=args.drain)
    write_results("latency", {"machine": machine.as_dict(), "results": results})
    rows = []
    for result in results:
        rate = int(result["rate"])  # type: ignore[call-overload]
        if result["p99_s"] is None:
            value = "nothing applied"
        else:
            value = (f"p50 {float(result['p50_s']):.2f}s, p95 {float(result['p95_s']):.2f}s, "  # type: ignore[arg-type]
                     f"p99 {float(result['p99_s']):.2f}s; {result['applied']:,}/{result['changes']:,} applied; "  # type: ignore[arg-type]
                     f"lag {'steady' if _steady(result) else 'growing'}")
        p99 = result["p99_s"]
        met = verdict(_steady(result) and isinstance(p99, float) and p99 < 1.0) if rate == 2000 else ""
        rows.append(Row(benchmark="end-to-end latency",
                        figure=f"CRM insert commit → ERP account applied, {rate:,}/s for {args.seconds}s",
                        value=value, target="2,000/s sustained, p99 < 1 s" if rate == 2000 else "",
                        met=met, machine=machine_label(machine), measured=today()))
        spans: dict[str, dict[str, float]] = result.get("stages") or {}  # type: ignore[assignment]
        if spans:
            rows.append(Row(benchmark="end-to-end latency", figure=f"where the time went at {rate:,}/s (p50 / p95)",
                            value="; ".join(f"{name}: {v['p50_s']:.2f}s / {v['p95_s']:.2f}s"
                                            for name, v in spans.items()),
                            machine=machine_label(machine), measured=today()))
        within: dict[str, dict[str, object]] = result.get("inside") or {}  # type: ignore[assignment]
        if within:
            load = result.get("load_average_1m") or {}
            rows.append(Row(benchmark="end-to-end latency",
                            figure=f"inside the worker and the ERP sink at {rate:,}/s (mean, p99 bucket)",
                            value=f"{latency_inside.describe(within)}; load average (1 min) {load}",
                            machine=machine_label(machine), measured=today()))
        per_change: dict[str, float] = result.get("cpu_ms_per_change") or {}  # type: ignore[assignment]
        if per_change:
            rows.append(Row(benchmark="end-to-end latency",
                            figure=f"CPU a change over every process at {rate:,}/s (pipeline, stack, load generator)",
                            value=latency.describe_cpu(per_change), machine=machine_label(machine),
                            measured=today()))
    tried = ", ".join(f"{int(r['rate']):,}" for r in results)  # type: ignore[call-overload]
    steady = [int(r["rate"]) for r in results if _steady(r)]  # type: ignore[call-overload]
    rows.append(Row(benchmark="end-to-end latency", figure="highest tried rate sustained without growing lag",
                    value=f"{max(steady):,}/s (tried {tried}/s)" if steady else f"none (tried {tried}/s)",
                    target="≥ 2,000/s", met=verdict(bool(steady) and max(steady) >= 2000),
                    machine=machine_label(machine), measured=today()))
    return rows, None


def run_initial_sync(stack: RunningStack, args: argparse.Namespace,
                     machine: Machine) -> tuple[list[Row], str | None]:
    rows = []
    unreconciled: dict[str, object] | None = None
    for customers in sorted(args.sync_customers):
        if unreconciled is not None:
            rows.append(skipped_sync_row(customers, unreconciled, machine))
            continue
        result = initial_sync.measure(stack, customers=customers, timeout_s=args.sync_timeout, store=args.sync_store)
        if not isinstance(result["fully_reconciled_seconds"], float):
            unreconciled = result
        write_results(f"initial-sync-{customers}", {"machine": machine.as_dict(), **result})
        print(json.dumps(result, indent=2))
        done = result["fully_reconciled_seconds"]
        accounts_s = result["all_accounts_seconds"]
        if isinstance(done, float):
            value = (f"{done:,.0f}s fully reconciled (all ERP accounts after "
                     f"{float(accounts_s or 0):,.0f}s; generator {float(result['generate_seconds']):,.0f}s)")  # type: ignore[arg-type]
        elif result.get("not_measured"):
            value = f"not measured: {result['not_measured']}"
        else:
            stalled = result.get("stalled_after_s")
            bound = (f"stopped after {float(stalled):,.0f}s without progress" if isinstance(stalled, float)
                     else f"not within {args.sync_timeout:,.0f}s")
            value = (f"{bound}: {result['accounts']:,} accounts, {result['linked']:,} linked back "
                     f"(generator {float(result['generate_seconds']):,.0f}s)")  # type: ignore[arg-type]
        rows.append(_sync_row(customers, value, isinstance(done, float) and done < 600, machine))
        peaks = result.get("worker_peak_rss_mib")
        if isinstance(peaks, dict) and peaks:
            rows.append(Row(benchmark="initial sync",
                            figure=f"peak RSS (VmHWM) of each worker process at the end of the {customers:,} run "
                                   f"({args.sync_store} store)",
                            value=", ".join(f"{name} {mib:,.0f} MiB" for name, mib in peaks.items()),
                            machine=machine_label(machine), measured=today()))
    return rows, None


def _sync_row(customers: int, value: str, met: bool, machine: Machine) -> Row:
    """The row of one initial sync; the target (and its verdict) is the issue's, for 1,000,000 customers."""
    target = customers >= 1_000_000
    return Row(benchmark="initial sync", figure=f"{customers:,} generated CRM customers → ERP accounts",
               value=value, target="1,000,000 in < 10 min" if target else "", met=verdict(met) if target else "",
               machine=machine_label(machine), measured=today())


def skipped_sync_row(customers: int, smaller: dict[str, object], machine: Machine) -> Row:
    """The row of a larger initial sync skipped because a smaller one was not reconciled in its bound: what the
    smaller run's rate says it would take."""
    linked, size = int(smaller.get("linked") or 0), int(smaller["customers"])  # type: ignore[call-overload]
    elapsed = float(smaller.get("stalled_after_s") or smaller["timeout_s"])  # type: ignore[arg-type]
    rate = linked / elapsed if elapsed else 0.0
    estimate = (f"at its rate ({rate:,.0f} customers linked back/s) {customers:,} would take about "
                f"{customers / rate / 3600:,.1f} h" if rate else "it reconciled none")
    return _sync_row(customers, f"not run: the {size:,} run was not reconciled within its bound; {estimate}",
                     False, machine)


def run_fleet(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    result = fleet.measure(stack, customers=args.fleet_customers, partitions=args.fleet_partitions,
                           timeout_s=args.timeout, logs=RESULTS_DIR / "logs")
    write_results("fleet", {"machine": machine.as_dict(), **result})
    print(json.dumps(result, indent=2))
    rows = []
    for run in result["runs"]:  # type: ignore[attr-defined]
        value = (f"{run['seconds']:,.1f}s, {run['per_second']:,.0f} customers/s" if run["seconds"] is not None
                 else f"not within {args.timeout:,.0f}s ({run['drained']:,} drained)")
        rows.append(Row(benchmark="worker fleet",
                        figure=f"{run['customers']:,} CRM customers in one transaction → Account creates, "
                               + (f"customer flow in {run['partitions']} partitions on {run['workers']} worker(s) "
                                  f"(tasks {run['spread']})" if run["partitions"] > 1
                                  else "customer flow unpartitioned on 1 worker (no keying stage)"),
                        value=value, machine=machine_label(machine), measured=today()))
    return rows, None


def run_trace(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    result = trace_bench.measure(stack.settings.bootstrap_servers, records=args.trace_records, keys=args.trace_keys,
                                 days=args.trace_days)
    write_results("trace", {"machine": machine.as_dict(), **result})
    print(json.dumps(result, indent=2))
    label, when = machine_label(machine), today()
    held = f"{args.trace_records:,} records over {args.trace_days:g} days"
    window = float(result["cli_default_window_s"])  # type: ignore[arg-type]
    return [
        Row(benchmark="topics trace", figure=f"one customer, `isthmus topics trace` (default window 24 h), {held}",
            value=f"{window:.2f}s ({result['cli_default_window_records']} records)", target="< 2 s",
            met=verdict(window < 2), machine=label, measured=when),
        Row(benchmark="topics trace", figure=f"one customer, `--since {result['whole_history_since']}` "
                                             f"(the whole history), {held}",
            value=f"{float(result['cli_whole_history_s']):.2f}s "  # type: ignore[arg-type]
                  f"({result['cli_whole_history_records']} records)", machine=label, measured=when),
    ], None


def run_sink(stack: RunningStack, args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    result = sink_bench.measure(stack, commands=args.sink_commands, passes=args.sink_passes, timeout_s=args.timeout)
    write_results("sink", {"machine": machine.as_dict(), **result})
    print(json.dumps(result, indent=2))
    return sink_bench.rows(result, machine=machine_label(machine), measured=today()), None


def run_flows(args: argparse.Namespace, machine: Machine) -> tuple[list[Row], str | None]:
    keys = [*args.flow_keys, *([1_000_000] if args.flow_million else [])]
    result = flows.measure(keys=keys, flows=args.flows or tuple(flows.FLOW_MIXES))
    write_results("flows", {"machine": machine.as_dict(), **result})
    print(json.dumps(result, indent=2))
    return flows.rows(result, machine=machine_label(machine), measured=today()), None


#: Benchmarks that need no stack (run first, before a stack is started for the others).
OFFLINE: dict[str, Callable[[argparse.Namespace, Machine], tuple[list[Row], str | None]]] = {
    "flows": run_flows,
}

#: In the order a full run takes them: the fleet before the pipeline benchmarks, whose backlog (a rate not
#: sustained, customers not reconciled in the bound) would otherwise hold up the fleet's warm-up customer.
BENCHMARKS: dict[str, Callable[[RunningStack, argparse.Namespace, Machine], tuple[list[Row], str | None]]] = {
    "throughput": run_throughput,
    "memory": run_memory,
    "fleet": run_fleet,
    "latency": run_latency,
    "initial-sync": run_initial_sync,
    "trace": run_trace,
    "sink": run_sink,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*OFFLINE, *BENCHMARKS, []],
                        help="benchmarks to run (default: all)")
    parser.add_argument("--flow-keys", type=int, nargs="+", default=[10_000, 100_000],
                        help="flows: key counts (customers, SKUs) each flow is fed")
    parser.add_argument("--flow-million", action="store_true",
                        help="flows: also 1,000,000 keys (the customer flow alone takes about an hour of CPU)")
    parser.add_argument("--flows", nargs="+", choices=list(flows.FLOW_MIXES),
                        help="flows: the flows measured (default: every flow a record mix feeds)")
    parser.add_argument("--records", type=int, default=200_000, help="throughput: records per contender")
    parser.add_argument("--keys", type=int, default=10_000, help="throughput: distinct keys")
    parser.add_argument("--profile-records", type=int, default=50_000, help="throughput: records profiled")
    parser.add_argument("--memory-keys", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="memory: key counts to hold")
    parser.add_argument("--memory-stores", nargs="+", choices=["memory", "rocksdb"], default=["memory", "rocksdb"],
                        help="memory: the state stores measured (ISTHMUS_STORE)")
    parser.add_argument("--rates", type=int, nargs="+", default=[500, 2000, 5000],
                        help="latency: changes per second, each held --seconds; stops at the first not applied")
    parser.add_argument("--seconds", type=int, default=60, help="latency: how long each rate is held")
    parser.add_argument("--drain", type=float, default=180, help="latency: seconds to wait for the last changes")
    parser.add_argument("--sync-customers", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="initial-sync: customer counts to generate, smallest first; a count is not run once "
                             "a smaller one was not reconciled within --sync-timeout (its row says why)")
    parser.add_argument("--sync-timeout", type=float, default=900, help="initial-sync: bound, seconds")
    parser.add_argument("--sync-store", choices=("rocksdb", "memory"), default="rocksdb",
                        help="initial-sync: the workers' state store (ISTHMUS_STORE); rocksdb, the store a sync of "
                             "a million customers needs, by default")
    parser.add_argument("--fleet-customers", type=int, default=2000, help="fleet: customers per burst")
    parser.add_argument("--fleet-partitions", type=int, default=3, help="fleet: ISTHMUS_FLOW_PARTITIONS of the fleet")
    parser.add_argument("--trace-records", type=int, default=1_000_000, help="trace: records the stack holds")
    parser.add_argument("--trace-keys", type=int, default=100_000, help="trace: distinct customers among them")
    parser.add_argument("--trace-days", type=float, default=30, help="trace: days their record times span")
    parser.add_argument("--sink-commands", type=int, default=2000,
                        help="sink: commands per phase (Account creates, then SalesOrder creates)")
    parser.add_argument("--sink-passes", type=int, default=3, help="sink: unprofiled passes (the median is shown)")
    parser.add_argument("--timeout", type=float, default=600, help="bound on each measured run, seconds")
    parser.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # A SIGTERM (a CI's timeout, `kill`) unwinds like Ctrl-C: the workers, sinks and stack a benchmark started are
    # stopped by its `finally` blocks instead of being left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = args.names or [*OFFLINE, *BENCHMARKS]
    began = time.monotonic()

    def record(name: str, started: float, rows: list[Row], profile: str | None, machine: Machine) -> None:
        print(f"bench: {name} took {time.monotonic() - started:,.0f}s "
              f"({time.monotonic() - began:,.0f}s since the start)", flush=True)
        if not args.no_markdown:
            document = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else ""
            BENCHMARKS_MD.write_text(merge(document, rows, machine=machine, profile=profile))

    try:
        offline = [name for name in names if name in OFFLINE]
        if offline:
            machine = this_machine("not used")  # these run no broker
            for name in offline:
                started = time.monotonic()
                rows, profile = OFFLINE[name](args, machine)
                record(name, started, rows, profile, machine)
        online = [name for name in names if name in BENCHMARKS]
        if online:
            with bench_stack() as stack:
                machine = this_machine(kafka_version(stack.settings.jars_dir))
                for name in online:
                    started = time.monotonic()
                    rows, profile = BENCHMARKS[name](stack, args, machine)
                    record(name, started, rows, profile, machine)
    except (IsthmusError, BenchError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        print(f"bench: total {time.monotonic() - began:,.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
