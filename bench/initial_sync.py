"""Initial sync: N generated CRM customers (with their contacts, addresses and orders) until each has its
ERP account, and until each CRM customer holds its ERP account id (the link back: fully reconciled).

The pipeline (connectors, worker, both sinks) runs while ``reference.generate`` bulk-loads the CRM (COPY,
customers with their contacts and addresses; no orders, which are the orders flow's figure, not the
customers'); the clock starts when the generator starts. Customer numbers start at a block of this run
(``C-3xxxxxx``) and the SKUs have a run prefix, so runs do not collide with each other or other data.
Before the clock starts, one warm-up customer must reach the ERP (up to ``latency.WARM_UP_S``), so a backlog
of earlier runs is worked off first. Progress is printed every ``PROGRESS_S``; a run whose counts have not
moved for ``STALL_S`` stops early.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

from bench.exceptions import BenchError
from bench.latency import WARM_UP_S, pipeline, worker_peaks_mib
from bench.report import RESULTS_DIR
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT


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


def measure(stack: RunningStack, *, customers: int, timeout_s: float) -> dict[str, object]:
    run = random.randrange(1, 40)
    first = 3_000_000 + run * 100_000 if customers <= 100_000 else 5_000_000 + run * 1_000_000
    low, high = f"C-{first:06d}", f"C-{first + customers - 1:06d}"
    argv = [sys.executable, "-m", "reference.generate", "--customers", str(customers), "--seed", str(run),
            "--first-customer", str(first), "--first-order", str(first), "--sku-prefix", f"B{first}",
            "--orders-per-customer", str(ORDERS_PER_CUSTOMER)]
    with pipeline(RESULTS_DIR / "logs") as processes:
        warm_s = _warm_up(stack, f"C-8{random.randrange(10 ** 11):011d}")
        if warm_s is None:
            note = (f"the pipeline still had a backlog of earlier runs after {WARM_UP_S:.0f}s (its warm-up customer "
                    f"did not reach the ERP; see {RESULTS_DIR / 'logs'})")
            print(f"initial-sync: {note}", flush=True)
            return {"customers": customers, "not_measured": note, "fully_reconciled_seconds": None,
                    "all_accounts_seconds": None, "timeout_s": timeout_s}
        print(f"initial-sync: warm-up customer applied after {warm_s:.0f}s", flush=True)
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
        while time.monotonic() - began < timeout_s:
            counts = _counts(stack, low, high)
            if counts != (accounts, linked):
                moved = time.monotonic()
            accounts, linked = counts
            now = time.monotonic() - began
            if accounts >= customers and accounts_s is None:
                accounts_s = now
            if linked >= customers:
                linked_s = now
                break
            if time.monotonic() - printed >= PROGRESS_S:
                printed = time.monotonic()
                print(f"initial-sync: {now:.0f}s: {accounts:,} ERP accounts, {linked:,} linked back "
                      f"({linked / max(now - loaded_s, 1):,.0f}/s since the generator ended)", flush=True)
            if time.monotonic() - moved > STALL_S:
                stalled = True
                break
            time.sleep(5)
        peaks = worker_peaks_mib(processes)
    return {"customers": customers, "generate_seconds": loaded_s, "accounts": accounts, "linked": linked,
            "worker_peak_rss_mib": peaks,
            "all_accounts_seconds": accounts_s, "fully_reconciled_seconds": linked_s, "timeout_s": timeout_s,
            "stalled_after_s": (time.monotonic() - began) if stalled else None,
            "generator": " ".join(argv[1:])}
