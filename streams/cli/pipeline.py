"""What `isthmus status` reads of the pipeline, on the cluster the settings point to (the local stack's, or yours
with TLS/SASL): each connector and its tasks, each running connector's newest heartbeat or change record (a task
RUNNING but reading nothing stops sending them), each flow's and sink's consumer groups with their members and lag per
input topic, the dead letters and the held documents. The local stack's services and the command itself are in
streams/cli/stack_commands.py; this module is runtime and never imports the stack.

It reads what the other inspection commands read, the same way (:mod:`streams.inspect.admin` for groups, offsets,
lag and the sinks' transactions, :mod:`streams.inspect.reader` for records, :mod:`streams.dashboard.sources` for the
connectors and the held documents), and never a whole topic: offsets, group and transaction descriptions, at most
:data:`EXACT_LAG` offsets past each group's committed one (to count the records waiting, which transaction markers
are not), the last :data:`~streams.dashboard.sources.HOLD_RECORDS` hold records of each partition and the last
:data:`DEAD_LETTER_OFFSETS` offsets of the dead-letter topic's (to count the letters pending). The verdict and its
forms are :mod:`streams.inspect.health`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kafka.errors import KafkaError, TransactionalIdAuthorizationFailedError

from streams.catalog.exceptions import CatalogError
from streams.catalog.live import Slot, replication_slot
from streams.codecs.avro.single_object import SchemaStore
from streams.config import RuntimeSettings
from streams.config.kafka import KafkaSettings
from streams.dashboard import sources
from streams.errors import IsthmusError
from streams.flows.registry import SELECTION_ENV, registered
from streams.flows.topics import HOLDS
from streams.inspect import admin, health
from streams.inspect.admin import LagRow, TopicInfo
from streams.inspect.decoding import RawRecord
from streams.inspect.masking import PiiCatalog
from streams.inspect.reader import read_spans
from streams.kafka import names
from streams.kafka.refusals import principal
from streams.kafka.topics import unreachable
from streams.sinks import dlq, presence
from streams.sinks.topics import command_topic, dlq_topic, sink_group, writable_systems
from streams.systems import Engine, load_systems

#: How long to try the brokers before reporting them unreachable (kafka-python's own default is 30 s).
KAFKA_TIMEOUT_S = 10.0
#: A group's lag on a partition up to this many offsets is read and its records counted (an exactly-once producer's
#: commit and abort markers take offsets too); a larger one is shown as "about" that many.
EXACT_LAG = 50
#: The dead letters are counted from this many offsets at the end of each partition of the dead-letter topic: a few
#: seconds' read at most; "at least" when it holds more.
DEAD_LETTER_OFFSETS = 2000
#: ``isthmus status --stall-after``'s default: seconds a sink may go without a transaction while a record waits
#: that long before it is reported not running.
STALL_AFTER_S = 120.0


def gather(runtime: RuntimeSettings, *, stack: list[dict[str, Any]] | None = None, stack_home: str | None = None,
           down: dict[str, str] | None = None, stall_s: float = STALL_AFTER_S,
           behind_s: float = health.BEHIND_AFTER_S) -> health.Pipeline:
    """Everything ``isthmus status`` reports, read from the services ``runtime`` points to; ``down``: why
    ``kafka`` or ``connect`` is known to be down (not asked then); ``stall_s``: :attr:`health.Activity.stall_s`;
    ``behind_s``: :attr:`health.Consumer.behind_s`."""
    down = down or {}
    kafka, connect_url = runtime.kafka, runtime.connect.urls[0]
    connectors, connect_error = ([], down["connect"]) if "connect" in down else \
        sources.connector_states(connect_url, **runtime.connect.http_options())
    slots, slot_errors = replication_slots(runtime)
    shown: dict[str, Any] = {"kafka": ", ".join(kafka.bootstrap_servers), "connect": connect_url,
                             "connectors": tuple(connectors), "connect_error": connect_error,
                             "stack": None if stack is None else tuple(stack), "stack_home": stack_home,
                             "slots": slots, "slot_errors": slot_errors}
    if "kafka" in down:
        return health.Pipeline(**shown, kafka_error=down["kafka"])
    try:
        existing = admin.topic_names(kafka, bootstrap_timeout_s=KAFKA_TIMEOUT_S)
    except KafkaError as exc:
        return health.Pipeline(**shown, kafka_error=str(unreachable(kafka, exc)))
    running = [state.name for state in connectors if state.running]
    shown["captures"] = sources.captures(kafka, connect_url, running, existing=existing,
                                         **runtime.connect.http_options())
    try:
        dead, holds, held = _topics(kafka, existing)
        shown.update(dead_letters=dead, holds=holds)
        try:
            consumers = expected_consumers()
        except IsthmusError as exc:
            return health.Pipeline(**shown, consumers_error=f"cannot tell the flows and sinks: {exc}")
        flows, sinks = _consumers(kafka, consumers, held, stall_s, existing, behind_s)
        return health.Pipeline(**shown, flows=flows, sinks=sinks)
    except KafkaError as exc:
        return health.Pipeline(**shown, kafka_error=f"Kafka answered with an error: {exc}")


def replication_slots(runtime: RuntimeSettings) -> tuple[tuple[Slot, ...], tuple[str, ...]]:
    """The replication slot of each captured PostgreSQL system's connector (the systems folder's), read with the
    connector's own connection (its file rendered as the worker's re-sync renders it), and why one could not be
    read: a DBA's first question is how much WAL each slot keeps, and whether anything reads it."""
    try:
        systems = load_systems()
    except IsthmusError as exc:
        return (), (f"cannot tell the captured systems: {health.first_line(str(exc))}",)
    slots: list[Slot] = []
    errors: list[str] = []
    seen: set[str] = set()
    for name in systems.captured:
        spec = systems[name]
        if spec.engine is not Engine.POSTGRESQL or spec.connector is None or spec.connector in seen:
            continue
        seen.add(spec.connector)
        try:
            slot = replication_slot(spec, variables=runtime.connector_variables)
        except CatalogError as exc:
            errors.append(f"slot of {spec.connector} ({name}): {health.first_line(str(exc))}")
            continue
        if slot is not None:
            slots.append(slot)
    return tuple(slots), tuple(errors)


def consumer_problems(kafka: KafkaSettings, stall_s: float = STALL_AFTER_S) -> tuple[list[str], list[str]]:
    """What ``isthmus status`` says is wrong with the flows and sinks (:func:`health.consumer_state`), and which of
    those that run are behind (:func:`health.behind`), read as it reads them: the dashboard's judgement of them."""
    flows, sinks = _consumers(kafka, expected_consumers(), {}, stall_s, admin.topic_names(kafka))
    return health.consumers_judged((*flows, *sinks))


def expected_consumers() -> dict[tuple[str, str], str]:
    """``(kind, name) -> group name`` of every flow the workers may run (the registered ones, only those of
    ``ISTHMUS_WORKER_FLOWS`` when it is set) and of every writable system's sink."""
    chosen = {n.strip() for n in os.environ.get(SELECTION_ENV, "").split(",") if n.strip()}
    flows = [r.name for r in registered() if r.name is not None and (not chosen or r.name in chosen)]
    found = {("flow", flow): names.group(flow) for flow in flows}
    found.update({("sink", system): names.group(sink_group(system)) for system in writable_systems()})
    return found


def _consumers(kafka: KafkaSettings, consumers: dict[tuple[str, str], str], held: dict[str, int],
               stall_s: float, existing: set[str], behind_s: float = health.BEHIND_AFTER_S
               ) -> tuple[tuple[health.Consumer, ...], tuple[health.Consumer, ...]]:
    """The flows and sinks with their groups (described), each group's records waiting per topic (a sink's on a
    partition it never committed on from the partition's start: :func:`uncommitted`), what each flow holds and
    each sink's signs of life."""
    flow_bases = {name: base for (kind, name), base in consumers.items() if kind == "flow"}
    sink_of = {base: name for (kind, name), base in consumers.items() if kind == "sink"}

    def owner(group: str) -> tuple[str, str] | None:
        flow = health.flow_of(group, flow_bases)
        return ("sink", sink_of[group]) if group in sink_of else None if flow is None else ("flow", flow)

    groups = admin.groups(kafka, lambda group: owner(group) is not None)
    rows = admin.lag(kafka, sorted(groups)) if groups else []
    commands = {base: command_topic(name) for (kind, name), base in consumers.items() if kind == "sink"}
    read = [t for t in sorted(set(commands.values())) if t in existing]
    rows += uncommitted(commands, admin.topics(kafka, read, config_keys=()) if read else [], rows)
    counted, about, oldest = waiting_records(kafka, rows)
    lag: dict[str, dict[str, int]] = {}
    for (group, topic), n in counted.items():
        lag.setdefault(group, {})[topic] = n
    sinks = {name: names.transactional_id(sink_group(name)) for kind, name in consumers if kind == "sink"}
    started, errors = _transactions_started(kafka, sorted(sinks.values()))
    checked_ms = int(time.time() * 1000)
    found: dict[str, list[health.Consumer]] = {"flow": [], "sink": []}
    for (kind, name), base in sorted(consumers.items()):
        mine = tuple(g for g in groups.values() if owner(g.group) == (kind, name))
        # a sink that never committed has no group yet, and what waits for it under its group's name
        keys = [g.group for g in mine] or ([base] if kind == "sink" else [])
        waited = [oldest[key] for key in keys if key in oldest]
        activity = None if kind != "sink" else health.Activity(
            checked_ms=checked_ms, stall_s=stall_s, last_commit_ms=started.get(sinks[name]),
            error=errors.get(sinks[name]), oldest_waiting_ms=min(waited) if waited else None,
            note=presence.latest([row.metadata for row in rows if row.group in keys]))
        found[kind].append(health.Consumer(
            kind=kind, name=name, base=base, groups=mine, lag={key: lag.get(key, {}) for key in keys},
            about={key: frozenset(t for group, t in about if group == key) for key in keys},
            held=held.get(name, 0) if kind == "flow" else 0, activity=activity,
            oldest_waiting_ms=min(waited) if waited else None, checked_ms=checked_ms, behind_s=behind_s))
    return tuple(found["flow"]), tuple(found["sink"])


def uncommitted(commands: Mapping[str, str], topics: Iterable[TopicInfo], rows: Iterable[LagRow]) -> list[LagRow]:
    """What waits for each sink (``commands``: its group -> its command topic, of ``topics``) on the partitions it
    has committed no offset on (``rows``: those it has): the whole partition, from its start, where a sink begins
    (``auto_offset_reset=earliest``). A sink commits only with its first command, so one that runs and was sent
    none yet has no group at all; it is judged by what waits for it, as any sink."""
    committed = {(row.group, row.topic, row.partition) for row in rows if row.committed is not None}
    described = {topic.name: topic for topic in topics}
    return [LagRow(group=group, topic=topic, partition=p.partition, committed=p.begin, end=p.end)
            for group, topic in sorted(commands.items()) if topic in described
            for p in described[topic].partitions if (group, topic, p.partition) not in committed]


def _transactions_started(kafka: KafkaSettings, ids: Sequence[str]) -> tuple[dict[str, int | None], dict[str, str]]:
    """:func:`admin.transactions_started` of ``ids``, and why each that could not be described was not: asked one id
    at a time, so a sink's line names its own error (one id refused once named on every sink's line)."""
    started: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    for transactional_id in ids:
        try:
            started.update(admin.transactions_started(kafka, [transactional_id]))
        except TransactionalIdAuthorizationFailedError:
            who = principal(kafka)
            errors[transactional_id] = (
                f"Kafka refuses the principal {who} to describe the transactional id {transactional_id} "
                "(TRANSACTIONAL_ID_AUTHORIZATION_FAILED); to see the sink's commits, grant it: kafka-acls "
                f"--bootstrap-server … --add --allow-principal {who} --operation Describe --transactional-id "
                f"{transactional_id}, or on the name prefix with --resource-pattern-type prefixed")
        except KafkaError as exc:
            errors[transactional_id] = f"{type(exc).__name__}: {exc}"
    return started, errors


def waiting_records(kafka: KafkaSettings, rows: Sequence[LagRow]) -> tuple[
        dict[tuple[str, str], int], set[tuple[str, str]], dict[str, int]]:
    """What waits for each group of ``rows`` (:func:`admin.lag`): ``(group, topic) -> records`` (the records
    between its committed offset and the end, read when at most :data:`EXACT_LAG` offsets, else the offsets), the
    ``(group, topic)`` pairs counted as offsets, and ``group -> Kafka timestamp of the oldest record waiting``
    (of those read)."""
    # one read per round; groups far apart on one partition (a flow behind, another at the end) in rounds of their
    # own, so that no read spans the offsets between them
    rounds: list[dict[tuple[str, int], tuple[int, int]]] = []
    for row in rows:
        if row.lag and row.committed is not None:
            at, begin, end = (row.topic, row.partition), row.committed, min(row.end, row.committed + EXACT_LAG)
            joined = next((r for r in rounds if at not in r or (r[at][0] <= end and begin <= r[at][1])), None)
            if joined is None:
                rounds.append({at: (begin, end)})
            else:
                joined[at] = (begin, end) if at not in joined else (min(joined[at][0], begin), max(joined[at][1], end))
    read: dict[tuple[str, int], list[RawRecord]] = {}
    for spans in rounds:
        for record in read_spans(kafka, spans):
            read.setdefault((record.topic, record.partition), []).append(record)
    counted: dict[tuple[str, str], int] = {}
    about: set[tuple[str, str]] = set()
    oldest: dict[str, int] = {}
    for row in rows:
        key = (row.group, row.topic)
        counted.setdefault(key, 0)
        if not row.lag or row.committed is None:
            continue
        mine = [r for r in read.get((row.topic, row.partition), ()) if row.committed <= r.offset < row.end]
        if row.lag > EXACT_LAG:
            counted[key] += row.lag
            about.add(key)
        else:
            counted[key] += len(mine)
        first = mine[0].timestamp_ms if mine else None
        if first is not None:
            oldest[row.group] = min(oldest.get(row.group, first), first)
    return counted, about, oldest


def _topics(kafka: KafkaSettings, existing: set[str]) -> tuple[health.Counted, health.Counted, dict[str, int]]:
    """The dead letters (from offsets), the documents held now (from the holds topic's last records) and how many
    each flow holds."""
    letters, holds = dlq_topic(), names.topic(HOLDS)
    read = {t.name: t for t in admin.topics(kafka, [t for t in (letters, holds) if t in existing], config_keys=())}
    store = SchemaStore.from_directory() if any(t.messages for t in read.values()) else None
    dead = dead_letters(kafka, read[letters], store) if letters in read else health.Counted(topic=letters, count=None)
    if holds not in read:
        return dead, health.Counted(topic=holds, count=None), {}
    held: list[dict[str, Any]] = []
    if store is not None and read[holds].messages:
        held = sources.held_now(sources.latest(kafka, holds, store, PiiCatalog.load(store.schemas, mappings={}),
                                               count=sources.HOLD_RECORDS, show_pii=False))
    complete = all(p.messages <= sources.HOLD_RECORDS for p in read[holds].partitions)
    return dead, health.Counted(topic=holds, count=len(held), complete=complete), health.held_by_flow(held)


def dead_letters(kafka: KafkaSettings, topic: TopicInfo, store: SchemaStore | None) -> health.Counted:
    """The letters of the dead-letter ``topic`` and how many are pending (never replayed or settled, or failed
    again), from its last :data:`DEAD_LETTER_OFFSETS` offsets a partition: records, not offsets (its replay notes
    and transaction markers take offsets too). Incomplete when a partition holds more: the letters before are not
    counted, and a replay read of one of them changes no count."""
    spans = {(topic.name, p.partition): (max(p.begin, p.end - DEAD_LETTER_OFFSETS), p.end)
             for p in topic.partitions if p.messages}
    if not spans or store is None:
        return health.Counted(topic=topic.name, count=0, pending=0)
    records = read_spans(kafka, spans)
    entries, replays = dlq.letters_of(store, topic.name, ((r.partition, r.offset, r.timestamp_ms or 0, r.value)
                                                           for r in records))
    complete = all(p.messages <= DEAD_LETTER_OFFSETS for p in topic.partitions)
    return health.Counted(topic=topic.name, count=len(entries), pending=sum(e.pending for e in entries),
                          complete=complete, last=None if complete else DEAD_LETTER_OFFSETS, replays=len(replays))
