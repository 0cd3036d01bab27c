"""`isthmus status`: is the pipeline healthy, and if not, where. One command over every part, read from the
cluster the settings point to (the local stack's, or yours with TLS/SASL): the local stack's services (only when
there is one), each connector and its tasks, each flow's and sink's consumer groups with their members and lag per
input topic, the dead letters and the held documents; the verdict on the last line.

It reads what the other inspection commands read, the same way (:mod:`streams.inspect.admin` for groups, offsets
and lag, :mod:`streams.dashboard.sources` for the connectors and the held documents), and never a whole topic:
offsets and group descriptions, and the last :data:`~streams.dashboard.sources.HOLD_RECORDS` hold records of each
partition. The verdict and its forms are :mod:`streams.inspect.health`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from kafka.errors import KafkaError

from streams.cli import environment
from streams.cli.runtime import load_runtime
from streams.codecs.avro.single_object import SchemaStore
from streams.config import RuntimeSettings
from streams.config.kafka import KafkaSettings
from streams.dashboard import sources
from streams.errors import IsthmusError
from streams.flows.registry import SELECTION_ENV, registered
from streams.flows.topics import HOLDS
from streams.inspect import admin, health
from streams.inspect.masking import PiiCatalog
from streams.kafka import names
from streams.kafka.topics import unreachable
from streams.sinks.topics import dlq_topic, sink_group, writable_systems
from streams.stack.manager import StackManager
from streams.stack.settings import StackSettings

#: How long to try the brokers before reporting them unreachable (kafka-python's own default is 30 s).
KAFKA_TIMEOUT_S = 10.0

EPILOG = """exit codes:
  0  healthy: every connector and task RUNNING, every flow and sink has workers, nothing held
  1  not healthy: a local stack service, Kafka or Kafka Connect down; a connector or task not RUNNING; a flow or
     sink with no worker running (or never started); the last line names each
  2  an Isthmus error (settings that do not load)
  3  everything runs, but documents are held (`isthmus topics trace <key>` says why)"""


def register(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status", help="is the pipeline healthy, and if not, where (stack, connectors, flows, sinks, lag, holds)",
        description="One report of the whole pipeline on the cluster the settings point to: the local stack's\n"
                    "services (when there is a local stack), each connector and its tasks (a failed one with its\n"
                    "trace's first line), each flow's and sink's consumer groups with their members (the workers\n"
                    "running) and lag per input topic, the dead letters and the documents held; the last line\n"
                    "says healthy or names what is not. Reads offsets and group descriptions, never whole topics.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--json", action="store_true", help="one JSON document (the verdict in 'verdict', "
                        "'problems', 'held' and 'exit_code')")
    status.add_argument("--settings", action="store_true", help="also list every ISTHMUS_* variable and its value")
    status.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    settings = StackSettings.from_env()
    runtime = load_runtime(args)
    services = [s.as_dict() for s in StackManager(settings).status()]
    # the local stack is shown when the runtime uses it (its broker is the stack's offer) or a service of it runs
    local = runtime.origins.get(("kafka", "bootstrap_servers")) == "stack" or any(s["pid"] for s in services)
    # a stack service the runtime uses that is not running is not waited for (Kafka's bootstrap takes seconds)
    down = {name: f"the local stack's {name} is {s['state']} (`isthmus up`)" for s in services
            for name, setting in (("kafka", ("kafka", "bootstrap_servers")), ("connect", ("connect", "urls")))
            if s["name"] == name and s["state"] != "running" and runtime.origins.get(setting) == "stack"}
    pipeline = gather(runtime, stack=services if local else None, stack_home=str(settings.home), down=down)
    result = health.verdict(pipeline)
    if args.json:
        document = health.document(pipeline, result)
        if args.settings:
            document["settings"] = {v.env: v.value for v in environment.variables(settings)}
        print(json.dumps(document, indent=2))
    else:
        lines = health.render(pipeline, result)
        if args.settings:
            lines[-1:-1] = ["", *environment.render(environment.variables(settings)), ""]
        print("\n".join(lines))
    return result.code


def gather(runtime: RuntimeSettings, *, stack: list[dict[str, Any]] | None = None, stack_home: str | None = None,
           down: dict[str, str] | None = None) -> health.Pipeline:
    """Everything ``isthmus status`` reports, read from the services ``runtime`` points to; ``down``: why
    ``kafka`` or ``connect`` is known to be down (not asked then)."""
    down = down or {}
    kafka, connect_url = runtime.kafka, runtime.connect.urls[0]
    connectors, connect_error = ([], down["connect"]) if "connect" in down else \
        sources.connector_states(connect_url, **runtime.connect.http_options())
    shown: dict[str, Any] = {"kafka": ", ".join(kafka.bootstrap_servers), "connect": connect_url,
                             "connectors": tuple(connectors), "connect_error": connect_error,
                             "stack": None if stack is None else tuple(stack), "stack_home": stack_home}
    if "kafka" in down:
        return health.Pipeline(**shown, kafka_error=down["kafka"])
    try:
        existing = admin.topic_names(kafka, bootstrap_timeout_s=KAFKA_TIMEOUT_S)
    except KafkaError as exc:
        return health.Pipeline(**shown, kafka_error=str(unreachable(kafka, exc)))
    try:
        dead, holds, held = _topics(kafka, existing)
        shown.update(dead_letters=dead, holds=holds)
        try:
            consumers = expected_consumers()
        except IsthmusError as exc:
            return health.Pipeline(**shown, consumers_error=f"cannot tell the flows and sinks: {exc}")
        flows, sinks = _consumers(kafka, consumers, held)
        return health.Pipeline(**shown, flows=flows, sinks=sinks)
    except KafkaError as exc:
        return health.Pipeline(**shown, kafka_error=f"Kafka answered with an error: {exc}")


def expected_consumers() -> dict[tuple[str, str], str]:
    """``(kind, name) -> group name`` of every flow the workers may run (the registered ones, only those of
    ``ISTHMUS_WORKER_FLOWS`` when it is set) and of every writable system's sink."""
    chosen = {n.strip() for n in os.environ.get(SELECTION_ENV, "").split(",") if n.strip()}
    flows = [r.name for r in registered() if r.name is not None and (not chosen or r.name in chosen)]
    found = {("flow", flow): names.group(flow) for flow in flows}
    found.update({("sink", system): names.group(sink_group(system)) for system in writable_systems()})
    return found


def _consumers(kafka: KafkaSettings, consumers: dict[tuple[str, str], str],
               held: dict[str, int]) -> tuple[tuple[health.Consumer, ...], tuple[health.Consumer, ...]]:
    """The flows and sinks with their groups (described), each group's lag per topic and what each flow holds."""
    flow_bases = {name: base for (kind, name), base in consumers.items() if kind == "flow"}
    sink_of = {base: name for (kind, name), base in consumers.items() if kind == "sink"}

    def owner(group: str) -> tuple[str, str] | None:
        flow = health.flow_of(group, flow_bases)
        return ("sink", sink_of[group]) if group in sink_of else None if flow is None else ("flow", flow)

    groups = admin.groups(kafka, lambda group: owner(group) is not None)
    lag: dict[str, dict[str, int]] = {}
    for (group, topic), n in admin.lag_by_topic(admin.lag(kafka, sorted(groups)) if groups else ()).items():
        lag.setdefault(group, {})[topic] = n
    found: dict[str, list[health.Consumer]] = {"flow": [], "sink": []}
    for (kind, name), base in sorted(consumers.items()):
        mine = tuple(g for g in groups.values() if owner(g.group) == (kind, name))
        found[kind].append(health.Consumer(kind=kind, name=name, base=base, groups=mine,
                                           lag={g.group: lag.get(g.group, {}) for g in mine},
                                           held=held.get(name, 0) if kind == "flow" else 0))
    return tuple(found["flow"]), tuple(found["sink"])


def _topics(kafka: KafkaSettings, existing: set[str]) -> tuple[health.Counted, health.Counted, dict[str, int]]:
    """The dead letters (from offsets), the documents held now (from the holds topic's last records) and how many
    each flow holds."""
    letters, holds = dlq_topic(), names.topic(HOLDS)
    read = {t.name: t for t in admin.topics(kafka, [t for t in (letters, holds) if t in existing], config_keys=())}
    dead = health.Counted(topic=letters, count=read[letters].messages if letters in read else None)
    if holds not in read:
        return dead, health.Counted(topic=holds, count=None), {}
    held: list[dict[str, Any]] = []
    if read[holds].messages:
        store = SchemaStore.from_directory()
        held = sources.held_now(sources.latest(kafka, holds, store, PiiCatalog.load(store.schemas, mappings={}),
                                               count=sources.HOLD_RECORDS, show_pii=False))
    complete = all(p.messages <= sources.HOLD_RECORDS for p in read[holds].partitions)
    return dead, health.Counted(topic=holds, count=len(held), complete=complete), health.held_by_flow(held)
