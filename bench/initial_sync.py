"""Initial sync: N generated CRM customers (with their contacts, addresses and orders) until each has its
ERP account, and until each CRM customer holds its ERP account id (the link back: fully reconciled).

The pipeline (connectors, worker, both sinks) runs while ``reference.generate`` bulk-loads the CRM (COPY,
customers with their contacts and addresses; no orders, which are the orders flow's figure, not the
customers'); the clock starts when the generator starts. Customer numbers start at a block of this run
(``C-3xxxxxx``) and the SKUs have a run prefix, so runs do not collide with each other or other data.
Before the clock starts, one warm-up customer must reach the ERP (up to ``latency.WARM_UP_S``), so a backlog
of earlier runs is worked off first. Progress is printed every ``PROGRESS_S``; a run stops early when for
``STALL_S`` neither its counts nor the offsets the pipeline's topics hold have moved (a bulk load is one
source transaction: nothing reaches the ERP until Debezium has streamed all of it and the customer flow has
folded it, ~20 minutes at 1,000,000).

Where the time went (issue 17, item 4), each measured over the run (the clock's start to its end):
- ``topics``: when each stage's output topic received its first and last record of the run, and how many
  (:mod:`bench.topic_span`): Debezium's CDC records, each flow's commands and canonical records, each sink's
  results, the ERP's account echoes; a pipelined stage that finishes last with its input long done is the slow one;
- ``inside``: every flow's and sink's histograms (:mod:`bench.inside`, as ``bench latency`` scrapes them): the
  time a record waits versus the time the handler, the transaction and the target API take;
- ``cpu_seconds``: CPU seconds of each pipeline process and each stack service's process tree (:mod:`bench.cpu`),
  and the load averages seen; on a 2-core machine the sum of CPU seconds against 2 x wall says whether the
  machine, not a stage, was the limit.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

from bench import cpu, inside, restart, topic_span
from bench.exceptions import BenchError
from bench.latency import WARM_UP_S, WORKERS, pipeline, settle, worker_peaks_mib
from bench.report import RESULTS_DIR
from reference import topics
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

#: The topics each stage writes, in the order a customer passes them (crm customers twice: its insert, then
#: the link back's echo).
STAGE_TOPICS: tuple[str, ...] = (
    topics.CRM_CUSTOMERS, topics.CRM_CONTACTS, topics.CRM_ADDRESSES, topics.COMMANDS_ERP, topics.RESULTS_ERP,
    topics.ERP_ACCOUNTS, topics.COMMANDS_CRM, topics.RESULTS_CRM, topics.CANONICAL_CUSTOMERS)


def _counts(stack: RunningStack, low: str, high: str) -> tuple[int, int]:
    """(ERP accounts, CRM customers linked to an account) among customer numbers ``low``..``high``."""
    with stack.connect_erp() as erp, erp.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM accounts WHERE crm_customer_number BETWEEN %s AND %s", (low, high))
        accounts = int(cur.fetchone()[0])
    with stack.connect_crm() as crm:
        row = crm.execute("SELECT COUNT(*) FROM crm.customers WHERE customer_number BETWEEN %s AND %s "
                          "AND erp_account_id IS NOT NULL", (low, high)).fetchone()
        linked = int(row[0]) if row else 0
    return accounts, linked


def _free_block(stack: RunningStack, customers: int) -> tuple[int, int, str, str]:
    """A run number whose block of customer numbers no earlier run on this stack used (the generator refuses
    SKUs that exist, and a shared block would count another run's customers): (run, first number, low, high)."""
    for _ in range(40):
        run = random.randrange(1, 40)
        first = 3_000_000 + run * 100_000 if customers <= 100_000 else 5_000_000 + run * 1_000_000
        low, high = f"C-{first:06d}", f"C-{first + customers - 1:06d}"
        with stack.connect_crm() as crm:
            if crm.execute("SELECT 1 FROM crm.customers WHERE customer_number BETWEEN %s AND %s LIMIT 1",
                           (low, high)).fetchone() is None:
                return run, first, low, high
    raise BenchError(f"no free block of {customers:,} customer numbers left in the CRM; start from a fresh stack")


PROGRESS_S = 30.0
STALL_S = 300.0
ORDERS_PER_CUSTOMER = 0


def _warm_up(stack: RunningStack, number: str) -> float | None:
    """Insert one customer and wait until its ERP account exists; the seconds it took, None if it did not."""
    began = time.monotonic()
    with stack.connect_crm() as crm:
        crm.execute("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
                    (number, f"Warm-up {number}", f"{number.lower()}@bench.example"))
        crm.commit()
    while time.monotonic() - began < WARM_UP_S:
        if _counts(stack, number, number)[0]:
            return time.monotonic() - began
        time.sleep(2)
    return None


def measure(stack: RunningStack, *, customers: int, timeout_s: float, store: str = "rocksdb") -> dict[str, object]:
    """``store``: the workers' state store (``ISTHMUS_STORE``), for the run and the restart after it."""
    before = os.environ.get("ISTHMUS_STORE")
    os.environ["ISTHMUS_STORE"] = store
    try:
        return {"store": store, **_measure(stack, customers=customers, timeout_s=timeout_s)}
    finally:
        if before is None:
            os.environ.pop("ISTHMUS_STORE", None)
        else:
            os.environ["ISTHMUS_STORE"] = before


def _measure(stack: RunningStack, *, customers: int, timeout_s: float) -> dict[str, object]:
    run, first, low, high = _free_block(stack, customers)
    argv = [sys.executable, "-m", "reference.generate", "--customers", str(customers), "--seed", str(run),
            "--first-customer", str(first), "--first-order", str(first), "--sku-prefix", f"B{first}",
            "--orders-per-customer", str(ORDERS_PER_CUSTOMER)]
    ports: dict[str, int] = {}
    stages = inside.every_stage(WORKERS, ["erp", "crm"])
    with pipeline(RESULTS_DIR / "logs", ports) as processes:
        warm_s = _warm_up(stack, f"C-8{random.randrange(10 ** 11):011d}")
        if warm_s is None:
            note = (f"the pipeline still had a backlog of earlier runs after {WARM_UP_S:.0f}s (its warm-up customer "
                    f"did not reach the ERP; see {RESULTS_DIR / 'logs'})")
            print(f"initial-sync: {note}", flush=True)
            return {"customers": customers, "not_measured": note, "fully_reconciled_seconds": None,
                    "all_accounts_seconds": None, "timeout_s": timeout_s}
        print(f"initial-sync: warm-up customer applied after {warm_s:.0f}s", flush=True)
        waited = settle(stack, timeout_s=WARM_UP_S, label="initial-sync")
        print(f"initial-sync: the pipeline read every input to its end in {waited:.0f}s", flush=True)
        pids = {**{name: p.pid for name, p in processes.items()}, **cpu.stack_pids(stack)}
        scraped = {name: inside.scrape(port) for name, port in ports.items()}
        cpu_before = cpu.cpu_seconds(pids)
        loads = [os.getloadavg()[0]]
        since_ms = int(time.time() * 1000)
        began = time.monotonic()
        generated = subprocess.run(argv, cwd=PROJECT_ROOT, env=os.environ.copy(), capture_output=True, text=True,
                                   timeout=timeout_s, check=False)
        if generated.returncode != 0:
            raise BenchError(f"reference.generate failed ({generated.returncode}): {generated.stderr[-2000:]}")
        loaded_s = time.monotonic() - began
        print(f"initial-sync: {customers:,} customers generated in {loaded_s:.0f}s", flush=True)
        accounts_s = linked_s = None
        accounts = linked = 0
        printed = moved = time.monotonic()
        stalled = False
        written = topic_span.Written(stack.settings.bootstrap_servers)
        offsets = offsets_at_start = written.total()
        while time.monotonic() - began < timeout_s:
            counts = _counts(stack, low, high)
            now_offsets = written.total()
            if counts != (accounts, linked) or now_offsets != offsets:
                moved = time.monotonic()
            (accounts, linked), offsets = counts, now_offsets
            now = time.monotonic() - began
            if accounts >= customers and accounts_s is None:
                accounts_s = now
            if linked >= customers:
                linked_s = now
                break
            if time.monotonic() - printed >= PROGRESS_S:
                printed = time.monotonic()
                loads.append(os.getloadavg()[0])
                print(f"initial-sync: {now:.0f}s: {accounts:,} ERP accounts, {linked:,} linked back "
                      f"({linked / max(now - loaded_s, 1):,.0f}/s since the generator ended); the pipeline's "
                      f"topics gained {offsets - offsets_at_start:,} offsets", flush=True)
            if time.monotonic() - moved > STALL_S:
                stalled = True
                break
            time.sleep(5)
        written.close()
        wall_s = time.monotonic() - began
        cpu_used = cpu.spent(cpu_before, cpu.cpu_seconds(pids))
        loads.append(os.getloadavg()[0])
        peaks = worker_peaks_mib(processes)
        within = inside.summary(scraped, {name: inside.scrape(port) for name, port in ports.items()}, stages)
    spans = topic_span.spans(stack.settings.bootstrap_servers, STAGE_TOPICS, since_ms)
    restarted = restart.measure(RESULTS_DIR / "logs") if linked_s is not None else None
    print(f"initial-sync: restart to ready over that state: {restarted}", flush=True)
    print(f"initial-sync: topics: {topic_span.describe(spans)}", flush=True)
    print(f"initial-sync: inside: {inside.describe(within)}", flush=True)
    print(f"initial-sync: CPU seconds over {wall_s:.0f}s wall (2 cores: {2 * wall_s:.0f} CPU-s at most): "
          f"{cpu_used}; load average (1 min) {min(loads):.1f}-{max(loads):.1f}", flush=True)
    return {"customers": customers, "generate_seconds": loaded_s, "accounts": accounts, "linked": linked,
            "worker_peak_rss_mib": peaks, "wall_seconds": round(wall_s, 1), "cpu_seconds": cpu_used,
            "load_average_1m": {"min": round(min(loads), 2), "max": round(max(loads), 2),
                                "mean": round(sum(loads) / len(loads), 2)},
            "topics": [s.as_dict() for s in spans], "inside": within, "restart": restarted,
            "all_accounts_seconds": accounts_s, "fully_reconciled_seconds": linked_s, "timeout_s": timeout_s,
            "stalled_after_s": (time.monotonic() - began) if stalled else None,
            "generator": " ".join(argv[1:])}
