"""`isthmus demo`: the whole local stack with the reference CRM and ERP, live sync visible.

It starts the stack, deploys the connectors, loads sample data once, runs a flow worker, both sink workers,
the warehouse loader, the activity simulator and the dashboard as child processes (logs in
``<ISTHMUS_HOME>/logs/demo-*.log``), and prints one line per command, result, conflict and dead letter as
they happen, until Ctrl-C or ``--seconds``. The stack keeps running afterwards (`isthmus down` stops it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from kafka import KafkaConsumer

from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import client_kwargs
from streams.dashboard.settings import dashboard_address
from streams.flows import topics as flow_topics
from streams.kafka.deadletters import dlq_topic
from streams.sinks.topics import command_topic, is_command_topic, is_results_topic, results_topic, writable_systems
from streams.stack.manager import StackManager
from streams.stack.running import RunningStack
from streams.stack.settings import StackSettings
from streams.systems import load_systems
from streams.worker.settings import WorkerSettings

SAMPLE_CUSTOMERS = 200
#: The demo fails when one of these exits; the simulator ends by itself at --seconds.
MUST_KEEP_RUNNING = ("worker", "sink-erp", "sink-crm", "warehouse")
SAMPLE_SEED = 7


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    seconds: float | None = None
    rate: float = 2.0
    customers: int = SAMPLE_CUSTOMERS


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


def _has_customers(running: RunningStack) -> bool:
    with running.connect_crm() as conn:
        row = conn.execute("SELECT count(*) FROM crm.customers").fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def _children(settings: StackSettings, options: DemoOptions,
              out: TextIO) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    logs = settings.logs_dir
    commands = {
        "worker": [sys.executable, "-m", "streams.cli.main", "worker"],
        **{f"sink-{name}": [sys.executable, "-m", "streams.cli.main", "sink", "--target", name]
           for name in load_systems().writable},
        "warehouse": [sys.executable, "-m", "streams.cli.main", "warehouse", "load"],
        "simulator": [sys.executable, "-m", "reference.simulate", "--rate", str(options.rate), "--seconds",
                      str(int(options.seconds or 24 * 3600)), "--seed", str(int(time.time()) % 100000)],
        "dashboard": [sys.executable, "-m", "streams.cli.main", "dashboard"],
    }
    env = {**os.environ, "ISTHMUS_RESYNC_AT": os.environ.get("ISTHMUS_RESYNC_AT", "off")}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            with open(logs / f"demo-{name}.log", "ab") as log:
                children[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                                  start_new_session=True)
            _say(out, f"  started {name} (pid {children[name].pid}), log {logs / f'demo-{name}.log'}")
        yield children
    finally:
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def describe(topic: str, value: bytes | None, store: SchemaStore) -> str | None:
    """One line for a record of the demo's topics, or None for what is not worth a line."""
    if value is None:
        return None
    record: Mapping[str, Any] = store.decode(value).value
    if is_command_topic(topic):
        fields = ", ".join(record.get("changed_fields") or []) or "all fields"
        return (f"-> {str(record['target']).upper():3} {record['payload_type'].rsplit('.', 1)[-1]} "
                f"{record['operation']} {record['entity_key']} [{fields}]")
    if is_results_topic(topic):
        replay = " (answered from its idempotency table)" if record.get("replayed") else ""
        return (f"   applied by {str(record['target']).upper()}: {record['payload_type'].rsplit('.', 1)[-1]} "
                f"{record['operation']} {record['entity_key']} -> HTTP {record['status']}{replay}")
    if topic == flow_topics.topic(flow_topics.AUDIT_CONFLICTS):
        sides = " ".join(f"{system}={value}" for system, value in (record.get("values") or {}).items())
        return (f"!! conflict {record['entity_key']} {record['field']}: {sides} "
                f"-> {str(record['winner']).upper()} wins ({record['policy']})")
    if topic == dlq_topic() and "stage" in record:  # a replay's re-derive request shares the topic
        return f"xx dead letter from {record['stage']}: {record['reason'][:160]}"
    return None


def live_view(settings: StackSettings, out: TextIO, until: Callable[[], bool]) -> int:
    store = SchemaStore.from_directory()
    systems = writable_systems()
    watched = [*map(command_topic, systems), *map(results_topic, systems),
               flow_topics.topic(flow_topics.AUDIT_CONFLICTS), dlq_topic()]
    consumer = KafkaConsumer(*watched, **client_kwargs(settings.bootstrap_servers), group_id=None,
                             auto_offset_reset="latest", isolation_level="read_committed")
    shown = 0
    try:
        while not until():
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        line = describe(record.topic, record.value, store)
                    except Exception as exc:  # a record the view cannot read is shown, not fatal
                        line = f"?? {record.topic}@{record.offset}: {exc}"
                    if line:
                        shown += 1
                        _say(out, f"{time.strftime('%H:%M:%S')} {line}")
    finally:
        consumer.close()
    return shown


def data_line(settings: StackSettings) -> str:
    """Where the demo's stack keeps its data, and how to start over: the tests run on a stack of their own
    (:mod:`streams.stack.profiles`), so nothing they leave behind shows here."""
    return (f"  data: {settings.home} (databases in {settings.data_dir}, logs in {settings.logs_dir}); "
            f"Kafka {settings.bootstrap_servers}. A fresh start: `isthmus down`, then delete {settings.home}")


def run_demo(settings: StackSettings, options: DemoOptions, out: TextIO = sys.stdout) -> int:
    manager = StackManager(settings)
    _say(out, "== 1/4 the local stack")
    manager.up()
    running = manager.running()
    _say(out, data_line(settings))
    _say(out, "== 2/4 Debezium connectors")
    code = cli_main(["connectors", "deploy"])
    if code != 0:
        return code
    _say(out, "== 3/4 sample data")
    if _has_customers(running):
        _say(out, "  the CRM already has customers: nothing loaded")
    else:
        subprocess.run([sys.executable, "-m", "reference.generate", "--customers", str(options.customers),
                        "--seed", str(SAMPLE_SEED)], check=True)
    _say(out, "== 4/4 flows, sinks and the activity simulator")
    began = time.monotonic()
    with _children(settings, options, out) as children:
        _say(out, f"""
Live sync (Ctrl-C stops the demo; the stack keeps running, `isthmus down` stops it):
  CRM API  {settings.crm_api_url}/docs      ERP API  {settings.erp_api_url}/docs
  dashboard  {dashboard_address(os.environ)}
  worker   http://{settings.host}:{WorkerSettings.from_env(os.environ).port}/ready and /metrics
  inspect  isthmus status | isthmus connectors status | isthmus topics trace C-000001 | isthmus topics dlq list
  warehouse  database `warehouse` on {settings.host}:{settings.crm_db_port} (views: see warehouse/README.md)
""")

        def finished() -> bool:
            if options.seconds is not None and time.monotonic() - began >= options.seconds:
                return True
            return any(children[n].poll() not in (None, 0) for n in MUST_KEEP_RUNNING)

        try:
            shown = live_view(settings, out, finished)
        except KeyboardInterrupt:
            shown = -1
        failed = [n for n in MUST_KEEP_RUNNING if children[n].poll() not in (None, 0)]
    if failed:
        _say(out, f"{failed[0]} exited early (exit {children[failed[0]].returncode}); see "
                  f"{settings.logs_dir / f'demo-{failed[0]}.log'}")
        return 1
    if shown >= 0:
        _say(out, f"demo finished: {shown} sync events shown")
    return 0
