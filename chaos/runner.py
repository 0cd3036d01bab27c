"""One chaos run: seed, deploy, start the processes, run the workload while the schedule's faults are injected,
wait for quiescence, check the invariants, print the report."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer

from chaos import invariants, lag, observe
from chaos.backends import Backend
from chaos.exceptions import ChaosError, InvalidChaosOptions
from chaos.faults import Injector
from chaos.invariants import Check
from chaos.processes import Fleet
from chaos.schedule import plan
from reference.generate.__main__ import main as generate_main
from reference.simulate.runner import SimulationSpec, SimulationSummary, simulate
from streams.capture.client import ConnectClient
from streams.flows.topics import cdc_topic
from streams.kafka import hanging
from streams.sinks.topics import COMMAND_TOPICS, RESULTS_TOPICS
from streams.stack.running import RunningStack
from streams.stack.services.connect import OFFSETS_TOPIC

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ChaosOptions:
    changes: int = 100_000
    rate: float = 50.0
    seed: int = 8
    seed_customers: int = 300
    repeats: int = 2
    outage_s: float = 60.0
    throttle_count: int = 200
    throttle_retry_after: int = 2
    poison: int = 3
    quiet_s: float = 30.0
    #: Seconds a SIGKILLed broker stays down before it is started again (``kill-broker``, 3-broker runs).
    broker_pause_s: float = 20.0
    converge_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        problems = []
        if self.changes < 1:
            problems.append(f"--changes {self.changes}: use 1 or more")
        if not 0 < self.rate <= 1000:
            problems.append(f"--rate {self.rate}: use more than 0 and at most 1000 changes/s")
        if self.poison < 1:
            problems.append(f"--poison {self.poison}: inject at least 1 poison record, or the check proves nothing")
        if self.quiet_s < 5:
            problems.append(f"--quiet {self.quiet_s}: watch at least 5 s for writes after quiescence")
        if self.broker_pause_s < 0:
            problems.append(f"--broker-pause {self.broker_pause_s}: use 0 or more seconds")
        if problems:
            raise InvalidChaosOptions("invalid chaos options:\n  " + "\n  ".join(problems))


@dataclass
class ChaosReport:
    #: The fault kinds the run had to inject (each at least twice to pass).
    kinds: tuple[str, ...]
    faults: Counter[str] = field(default_factory=Counter)
    changes: int = 0
    attempted: int = 0
    lost: int = 0
    refused: int = 0
    held: int = 0
    held_refused: int = 0
    duplicated: int = 0
    converge_s: float | None = None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.converge_s is not None and all(c.held for c in self.checks)
                and all(self.faults[k] >= 2 for k in self.kinds))

    def describe(self) -> str:
        lines = ["", "=== chaos result ===",
                 "faults injected: " + ", ".join(f"{k} {self.faults[k]}" for k in self.kinds),
                 f"changes made: {self.changes:,} (of {self.attempted:,} attempted; the rest were refused by the "
                 "apps, e.g. during an outage, and changed nothing)",
                 f"lost: {self.lost:,}", f"duplicated: {self.duplicated:,}",
                 f"refused by a target (dead-lettered by a sink, not applied): {self.refused:,}",
                 f"orders on hold at the end (ERP account still blocked; CRM shows on_hold): {self.held:,}, "
                 f"{self.held_refused:,} of them refused by the ERP in a race (a 409 result, sent again on the "
                 "unblock)",
                 "seconds to converge: " + (f"{self.converge_s:.1f}" if self.converge_s is not None
                                            else "did not converge"),
                 "invariants:"]
        lines += ["  " + c.line() for c in self.checks]
        lines += [f"note: {n}" for n in self.notes]
        lines.append("RESULT: " + ("PASS" if self.passed else "FAIL"))
        return "\n".join(lines)


def _seed(stack: RunningStack, customers: int, seed: int, say: Say) -> None:
    with stack.connect_crm() as crm, crm.cursor() as cur:
        cur.execute("SELECT count(*) FROM crm.customers")
        row = cur.fetchone()
    if row and row[0]:
        say(f"CRM already holds {row[0]} customers: not seeding")
        return
    if generate_main(["--customers", str(customers), "--seed", str(seed), "--orders-per-customer", "1",
                      "--skus", "50"]) != 0:
        raise ChaosError("seeding the CRM and ERP with reference.generate failed (see above)")


def _accounts(stack: RunningStack) -> int:
    erp = stack.connect_erp()
    try:
        with erp.cursor() as cur:
            cur.execute("SELECT count(*) FROM accounts WHERE crm_customer_number IS NOT NULL")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        erp.close()


def _customers(stack: RunningStack) -> int:
    with stack.connect_crm() as crm, crm.cursor() as cur:
        cur.execute("SELECT count(*) FROM crm.customers")
        row = cur.fetchone()
        return int(row[0]) if row else 0


def _crm_orders(stack: RunningStack) -> set[str]:
    with stack.connect_crm() as crm, crm.cursor() as cur:
        cur.execute("SELECT order_number FROM crm.sales_orders")
        return {str(n) for (n,) in cur.fetchall()}


def _poison(bootstrap: str, run: str, count: int) -> list[str]:
    """Records no flow can decode, on the CRM customers change topic: each must end up as one dead letter."""
    keys = [f"chaos-poison-{run}-{i}" for i in range(count)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key in keys:
            producer.send(cdc_topic("crm", "customers"), key=key.encode(), value=b"{not a change event")
        producer.flush(timeout=30)
    finally:
        producer.close()
    return keys


def _heal_connectors(backend: Backend, say: Say) -> list[str]:
    """Restart failed connector tasks (what an operator or a supervisor does); each restart is reported."""
    healed = []
    with ConnectClient(backend.connect_url) as client:
        for name in client.connectors():
            state = client.status(name)
            if state.failures:
                client.restart(name, only_failed=True)
                healed.append(f"{name}: {', '.join(what for what, _ in state.failures)}")
    for line in healed:
        say(f"restarted failed connector task {line}")
    return healed


def _abort_hanging(backend: Backend, say: Say) -> list[str]:
    """Abort the transactions a broker restart left hanging (`isthmus topics hanging --abort`, what the operator
    runs when capture or a flow stops at one): each is reported."""
    aborted = [txn.describe() for txn in hanging.abort_hanging(backend.transactions_tool())]
    for line in aborted:
        say(f"aborted hanging transaction {line}")
    return aborted


class Watchdog:
    """What an operator's supervisor does during the run, every ``interval_s`` in a thread of its own: restart
    failed connector tasks and abort hanging transactions. Everything it did ends up in the report's notes."""

    def __init__(self, backend: Backend, say: Say, interval_s: float = 30.0) -> None:
        self.backend, self.say, self.interval_s = backend, say, interval_s
        self.actions: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=180)

    def sweep(self) -> int:
        """One round; how many things it had to do."""
        with self._lock:
            done = [f"connector task restarted: {line}" for line in _heal_connectors(self.backend, self.say)]
            done += [f"hanging transaction aborted: {line}" for line in _abort_hanging(self.backend, self.say)]
            self.actions += done
            return len(done)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except Exception as exc:  # the broker or Connect may be down right now (a fault): try next round
                self.say(f"watchdog: round skipped ({type(exc).__name__}: {exc})")


def run(backend: Backend, options: ChaosOptions, *, logs: Path, env: dict[str, str], say: Say) -> ChaosReport:
    stack = backend.manager.running()
    bootstrap = backend.bootstrap
    report = ChaosReport(kinds=backend.kinds)
    say(f"Kafka: {backend.describe()}")
    run_id = uuid.uuid4().hex[:8]
    say("seeding both systems")
    _seed(stack, options.seed_customers, options.seed, say)
    seeded_orders = _crm_orders(stack)
    backend.deploy_connectors(say)
    fleet = Fleet(logs=logs, env={**env, **backend.client_env(), "ISTHMUS_RESYNC_AT": "off"})
    fleet.start_all()
    watchdog = Watchdog(backend, say)
    watchdog.start()
    injector = Injector(backend=backend, fleet=fleet, outage_s=options.outage_s,
                        throttle_count=options.throttle_count, throttle_retry_after=options.throttle_retry_after,
                        broker_pause_s=options.broker_pause_s)
    try:
        deadline = time.monotonic() + 600
        while _accounts(stack) < _customers(stack) and time.monotonic() < deadline:
            fleet.revive()
            time.sleep(2)
        say(f"seed synced: {_accounts(stack)} ERP accounts for {_customers(stack)} CRM customers")

        duration = options.changes / options.rate
        schedule = plan(duration_s=duration, repeats=options.repeats, outage_s=options.outage_s,
                        kinds=backend.kinds)
        say(f"workload: {options.changes:,} changes at {options.rate:g}/s (~{duration:.0f}s); "
            f"{len(schedule)} faults planned")
        summary: list[SimulationSummary] = []
        failure: list[BaseException] = []
        spec = SimulationSpec(crm_url=stack.settings.crm_api_url, erp_url=stack.settings.erp_api_url,
                              rate=options.rate, seconds=86_400, seed=options.seed, max_actions=options.changes)

        def workload() -> None:
            try:
                summary.append(simulate(spec, progress=say))
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        thread = threading.Thread(target=workload, name="chaos-workload", daemon=True)
        started = time.monotonic()
        thread.start()
        poison = _poison(bootstrap, run_id, options.poison)
        say(f"injected {len(poison)} poison records on {cdc_topic('crm', 'customers')}")
        for fault in schedule:
            while time.monotonic() - started < fault.at_s:
                for name in fleet.revive():
                    say(f"restarted {name}, which exited on its own")
                time.sleep(0.5)
            say(f"t={time.monotonic() - started:5.0f}s fault {injector.inject(fault)}")
        thread.join()
        if failure:
            raise ChaosError(f"the workload failed: {failure[0]}")
        report.faults = injector.injected
        report.changes = summary[0].ok() if summary else 0
        report.attempted = sum(summary[0].total.values()) if summary else 0
        while time.monotonic() < injector.outages_end:
            fleet.revive()
            time.sleep(1)
        injector.clear()
        faults_over = time.monotonic()
        say(f"workload and faults done ({faults_over - started:.0f}s); waiting for quiescence")
        report.converge_s = _converge(stack, bootstrap, fleet, watchdog, options, faults_over, say)
        watchdog.stop()
        if watchdog.actions:
            report.notes.append(f"the watchdog acted {len(watchdog.actions)}x: " + "; ".join(watchdog.actions))
        before = observe.end_offsets(bootstrap, COMMAND_TOPICS.values())
        time.sleep(options.quiet_s)
        for name in fleet.revive():
            report.notes.append(f"{name} exited on its own during the quiet window")
        after = observe.end_offsets(bootstrap, COMMAND_TOPICS.values())
        report.checks.append(invariants.quiet(before, after, options.quiet_s))
        _check(stack, bootstrap, report, poison, seeded_orders, say)
        if fleet.unplanned_exits:
            report.notes.append("processes that exited on their own (restarted): "
                                + ", ".join(f"{k} {v}x" for k, v in sorted(fleet.unplanned_exits.items())))
        report.notes.append(f"logs of the worker and sinks: {logs}")
    finally:
        watchdog.stop()
        fleet.stop_all()
    return report


def _converge(stack: RunningStack, bootstrap: str, fleet: Fleet, watchdog: Watchdog, options: ChaosOptions,
              since: float, say: Say) -> float | None:
    """Seconds from the end of the faults until the CDC, command and result topics stopped moving, every flow
    and sink had read its inputs to the end (no committed record after its group's committed offset: a blocked
    worker leaves the topics quiet too), nothing was left for the watchdog to do (no failed connector task, no
    hanging transaction: either stops the capture or a flow while every topic stands still), and every command
    was applied or dead-lettered (or the unapplied ones stayed the same over two quiet checks: they will not
    come); None if that did not happen within ``converge_timeout_s``."""
    topics = [*observe.cdc_topics(bootstrap), *COMMAND_TOPICS.values(), *RESULTS_TOPICS.values()]
    last_total, last_change, last_lost = -1, time.monotonic(), -1
    while time.monotonic() - since < options.converge_timeout_s:
        for name in fleet.revive():
            say(f"restarted {name}, which exited on its own")
        total = observe.end_offsets(bootstrap, topics)
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        elif time.monotonic() - last_change >= 15:
            unstable = hanging.open_transactions(bootstrap, [*topics, OFFSETS_TOPIC])
            if unstable:
                # Quiet topics with an open transaction are not converged: it is being committed, or it hangs
                # (the watchdog aborts it once it is older than hanging.HANGING_AFTER_MIN).
                say(f"topics quiet, but a transaction is open on {', '.join(unstable[:4])}: watching again")
                last_change = time.monotonic()
                continue
            with observe.RecordProbe(bootstrap) as probe:
                late = lag.behind(observe.group_positions(bootstrap), probe)
            if late:
                # Quiet topics with unread inputs are not converged: a flow or sink is blocked (e.g. its writes
                # refused below min.insync.replicas) or still starting; chaos/lag.py.
                say(f"topics quiet, but {len(late)} consumer position(s) have records left to read, e.g. "
                    f"{'; '.join(late[:3])}: watching again")
                last_change = time.monotonic()
                continue
            if watchdog.sweep():
                say("topics quiet, but the watchdog had to act: watching again")
                last_change = time.monotonic()
                continue
            once = invariants.applied_once(
                observe.commands(bootstrap), observe.idempotency_rows(stack),
                [d.position for d in observe.dead_letters(bootstrap)],
                refused_by_target=observe.refused_by_target(bootstrap))
            lost, refused = once.lost, once.refused
            if lost == 0 or lost == last_lost:
                return last_change - since
            say(f"topics quiet but {lost} command(s) not applied and not dead-lettered yet "
                f"({refused} dead-lettered); watching again")
            last_lost, last_change = lost, time.monotonic()
        time.sleep(3)
    return None


def _check(stack: RunningStack, bootstrap: str, report: ChaosReport, poison: list[str], seeded_orders: set[str],
           say: Say) -> None:
    say("checking invariants")
    commands = observe.commands(bootstrap)
    applied = observe.idempotency_rows(stack)
    letters = observe.dead_letters(bootstrap)
    snap = observe.snapshot(stack)
    held = invariants.held_orders(snap.crm_orders, snap.erp_orders, snap.erp_accounts)
    once = invariants.applied_once(
        commands, applied, [d.position for d in letters], refused_by_target=observe.refused_by_target(bootstrap),
        held=held)
    report.checks.append(once.check)
    report.lost = once.lost
    report.refused = once.refused
    report.held = len(held)
    report.held_refused = once.held
    accounts = invariants.one_per_source("one ERP account per CRM customer", snap.accounts_per_customer)
    orders = invariants.one_per_source("one ERP order per CRM order", snap.orders_per_crm_order)
    report.duplicated = once.twice + accounts.violations + orders.violations
    report.checks += [accounts, orders]
    report.checks.append(invariants.missing("every CRM customer has its ERP account", snap.crm_customers,
                                            snap.erp_accounts))
    # The orders flow creates an ERP order only for a CRM order submitted in a live transaction; orders read
    # by the connector's initial snapshot (the seed) are never created in the ERP (streams/flows/orders/order.py).
    # An order of a customer whose ERP account is blocked is held instead (CRM status on_hold) until the unblock.
    report.checks.append(invariants.missing(
        "every CRM order placed during the run has its ERP order, or is on hold with its ERP account blocked",
        [k for k in snap.crm_orders if k not in seeded_orders], [*snap.erp_orders, *held]))
    report.checks.append(invariants.holds_are_right(snap.crm_orders, held))
    pairs = {k: (c, snap.erp_accounts[k]) for k, c in snap.crm_customers.items() if k in snap.erp_accounts}
    report.checks.append(invariants.agree(
        "CRM customer = ERP account (fields owned by the CRM)", pairs, {"name": "name", "email": "email"}))
    report.checks.append(invariants.agree(
        "CRM customer = ERP account (fields owned by the ERP, mirrored)", pairs,
        {"erp_account_id": "account_id", "credit_limit": "credit_limit", "payment_terms": "payment_terms",
         "blocked": "blocked"}))
    report.checks.append(invariants.agree("CRM open balance = ERP invoiced - paid", pairs,
                                          {"open_balance": "open_balance"}))
    order_pairs = {k: (o, snap.erp_orders[k]) for k, o in snap.crm_orders.items() if k in snap.erp_orders}
    report.checks.append(invariants.agree("CRM order = ERP order (status, id)", order_pairs,
                                          {"status": "status", "erp_order_id": "order_id"}))
    stock = {sku: ({"available_qty": q}, {"available_qty": snap.erp_availability[sku]})
             for sku, q in snap.crm_availability.items() if sku in snap.erp_availability}
    report.checks.append(invariants.agree("CRM availability = ERP on hand - reserved, per SKU", stock,
                                          {"available_qty": "available_qty"}))
    report.checks.append(invariants.only_poison([(d.key, d.stage) for d in letters], poison))
    stages = Counter(f"{d.stage} ({d.topic})" for d in letters)
    report.notes.append("dead letters by stage: " + (", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
                                                      or "none"))
    others = [d for d in letters if d.key not in set(poison)]
    for letter in others[:3]:
        report.notes.append(f"unexpected dead letter {letter.key!r} [{letter.stage}]: {letter.reason}")
