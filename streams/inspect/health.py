"""Whether the pipeline is healthy, and if not, where: what ``isthmus status`` reports, its verdict and its text
and JSON forms. Nothing here reads a service; :mod:`streams.cli.pipeline` fills a :class:`Pipeline` from them.

A flow runs as consumer groups named from it (:mod:`streams.kafka.names`, under the group prefix): ``<flow>``
unpartitioned, ``<flow>-p<N>`` and its keying stage ``<flow>-p<N>-keying`` with ``ISTHMUS_FLOW_PARTITIONS=N``,
and its feeders ``<flow>-<what>-keying`` (the orders flow's results stage) with either. A flow's group with no
member is a stage no worker runs: its input waits.

A sink commits its offsets to ``isthmus-sink-<system>`` but never joins that group: it assigns itself every partition
of its command topic, and its transactional id (the group's name) fences a second worker, which is what its
exactly-once writes rest on (streams/sinks/worker.py). So its group has no member whether it runs or not, and its
signs of life are its transactions instead (:class:`Activity`): a sink with records waiting that began no
transaction for longer than a bound (``isthmus status --stall-after``), while the oldest of them waited that long
too, is not running; one that began a transaction within the bound runs; one with nothing waiting is idle (running
or not, nothing is late). A running sink whose target fails commits its offsets again while records wait (a
heartbeat), with its note in the offsets' metadata (streams/sinks/presence.py): one whose offsets have not moved
for longer than the bound, while its oldest record waits that long, is stalled: it runs, its target fails, and the
note says how (its breaker, its oldest retrying command's error). Starting it again would start a second sink. A
sink commits its first offsets with its first command: one that runs and was sent none has no group yet, and is
judged the same way, by what its command topic holds from its start.

What waits is counted in records, not offsets: an exactly-once producer leaves a commit (or abort) marker after
each transaction in every partition it wrote, which takes an offset and is no record. Up to a few dozen offsets
past a group's committed one are read and their records counted; beyond that the offsets are shown as "about".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.capture import client
from streams.capture.client import ConnectorState
from streams.capture.deploy import summary
from streams.capture.failures import known_failure, lost_position
from streams.catalog.live import Slot
from streams.inspect.admin import GroupInfo
from streams.sinks.presence import HEARTBEAT_S, SinkNote

#: ``isthmus status``'s exit codes (2 is every command's for an Isthmus error: settings that do not load). 3: everything
#: runs, but something waits for a user's action: documents held, or dead letters pending (to replay or settle).
EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_HELD = 0, 1, 3

#: A flow's group past its name: ``-p<N>`` or ``-p<N>-keying`` (a partitioned layout), or a feeder of every layout
#: (:func:`streams.flows.engine.repartition.relay`: the document flow's ``-results-keying``). Nothing else: a group
#: ``<flow>-<anything>`` is not the flow's (a test's, or another flow's that is not registered here).
_SHAPE = re.compile(r"^(?:-p(?P<partitions>\d+)(?:-keying)?|-results-keying)$")
#: Characters of a line of a connector task's trace shown (its root cause, or its first line).
TRACE_SHOWN = 200
#: A RUNNING connector is judged stalled when its newest heartbeat or change record is older than this many heartbeat
#: intervals, and than :data:`CAPTURE_STALL_FLOOR_S`.
CAPTURE_STALL_INTERVALS = 3
#: Seconds below which no connector is judged stalled: an idle MariaDB connector heartbeats only as its binlog
#: client hears from the server, every 48 s (0.8 of its 60 s keepalive); a trial measured gaps of up to 55 s.
CAPTURE_STALL_FLOOR_S = 90.0
#: Where to look, and the likely causes, when a RUNNING connector captures nothing.
CAPTURE_STALLED_TODO = ("read Kafka Connect's log for it (likely the database is unreachable or refuses its "
                        "credentials: `keepalive: Failed to restore connection`, `Access denied`, "
                        "`password authentication failed`); `isthmus connectors restart {name}` once it is fixed")
#: ``isthmus status --behind-after``'s default: a flow or sink that runs with a record waiting longer than this is
#: behind (exit 3): it takes records slower than they come, or works through a backlog (a first sync).
BEHIND_AFTER_S = 300.0
#: What to do about a flow or sink behind.
BEHIND_TODO = ("watch whether it catches up (its lag and oldest record, again in a while); if not, its records come "
               "faster than it takes them: README \"Troubleshooting\", \"Behind\"")
#: What to do with pending dead letters.
DEAD_LETTERS_TODO = ("`isthmus topics dlq list --pending` lists them with their reasons; fix the cause, then "
                     "`isthmus topics dlq replay`, or `isthmus topics dlq settle` those not to replay")


@dataclass(frozen=True, kw_only=True)
class Activity:
    """A sink's signs of life, since it joins no group (see the module's text): when its last transaction began,
    when the oldest record waiting for it was written, and when ``isthmus status`` looked."""

    #: When ``isthmus status`` looked (ms, its clock).
    checked_ms: int
    #: Longer than this without a transaction, with a record waiting that long, is not running.
    stall_s: float
    #: When its transactional id's last transaction began (ms, the transaction coordinator's clock); None: none
    #: since its worker last started, or not known (``error``).
    last_commit_ms: int | None = None
    #: The Kafka timestamp of the oldest record waiting for it (None: nothing waits, or none was read).
    oldest_waiting_ms: int | None = None
    #: Why its transactions could not be described (a principal without DESCRIBE on the transactional id, a
    #: broker older than Kafka 3.0).
    error: str | None = None
    #: The newest note the sink committed with its offsets (None: none, or a sink of an older Isthmus).
    note: SinkNote | None = None

    def ago_s(self, at_ms: int | None) -> float | None:
        return None if at_ms is None else max(0.0, (self.checked_ms - at_ms) / 1000)


@dataclass(frozen=True, kw_only=True)
class Capture:
    """A source connector's signs of life: its newest Debezium heartbeat or change record. A task can stay RUNNING
    while it reads nothing (MariaDB's binlog client lost its connection and retries every minute, refused its
    password): its heartbeats stop. Its heartbeats come every ``heartbeat.interval.ms`` while it reads (and, on
    MariaDB, at least as often as the server's binlog heartbeat when nothing changes)."""

    connector: str
    #: Its heartbeat topic (``<topic.heartbeat.prefix>.<topic.prefix>``).
    topic: str
    #: ``heartbeat.interval.ms`` in seconds; None: no heartbeat configured (not judged).
    interval_s: float | None
    #: When ``isthmus status`` looked (ms, its clock).
    checked_ms: int
    #: The Kafka timestamp of its newest record: heartbeat, change, transaction or notification (None: none).
    last_ms: int | None = None
    #: Why its topics could not be read.
    error: str | None = None

    @property
    def age_s(self) -> float | None:
        return None if self.last_ms is None else max(0.0, (self.checked_ms - self.last_ms) / 1000)

    @property
    def stall_s(self) -> float | None:
        """Older than this, a RUNNING connector is stalled (None: not judged, no heartbeat configured)."""
        return None if not self.interval_s else max(CAPTURE_STALL_INTERVALS * self.interval_s,
                                                    CAPTURE_STALL_FLOOR_S)

    @property
    def stalled(self) -> bool:
        """Its newest record is older than :attr:`stall_s`; never when its topics could not all be read (an unread
        heartbeat topic leaves only change records, which an idle database does not write)."""
        age, bound = self.age_s, self.stall_s
        return self.error is None and age is not None and bound is not None and age > bound

    def text(self) -> str:
        """``last heartbeat 12 s ago (every 10 s)``."""
        if self.error:
            return f"last heartbeat unknown ({self.error})"
        every = f"every {_duration(self.interval_s)}" if self.interval_s else "no heartbeat configured"
        age = self.age_s
        return f"last heartbeat or record {'none read' if age is None else _duration(age) + ' ago'} ({every})"


@dataclass(frozen=True, kw_only=True)
class Consumer:
    """A flow or a sink, with its consumer groups (none: no worker ever ran it here) and each group's lag per
    input topic (``group -> topic -> records waiting``: only the topics it committed offsets on)."""

    kind: str
    name: str
    #: The group name its groups are named from (``<group_prefix><flow>``, ``<group_prefix>isthmus-sink-<system>``).
    base: str
    groups: tuple[GroupInfo, ...] = ()
    lag: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: Per group, the topics whose lag is offsets (too many to read: transaction markers included), not records.
    about: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Documents it holds now (the Hold records' ``flow``).
    held: int = 0
    #: A sink's signs of life (None for a flow, or when they were not read).
    activity: Activity | None = None
    #: The Kafka timestamp of the oldest record waiting for it (None: nothing waits, or none was read), and when
    #: ``isthmus status`` looked (ms, its clock).
    oldest_waiting_ms: int | None = None
    checked_ms: int = 0
    #: Records waiting longer than this make it ``behind`` (see :func:`behind`).
    behind_s: float = BEHIND_AFTER_S


@dataclass(frozen=True, kw_only=True)
class Counted:
    """Records of one of Isthmus's topics: ``count`` None when the topic does not exist; ``complete`` False when
    only its end was read, so ``count`` is a lower bound. Of the dead letters: ``count`` the letters (not their
    replay notes, nor transaction markers), ``pending`` those never replayed or settled, or failed again."""

    topic: str
    count: int | None
    complete: bool = True
    pending: int | None = None
    #: Not ``complete``: the offsets read at the end of each partition (the records before them were not read).
    last: int | None = None
    #: Of the dead letters: the replays (notes, re-derive requests, settlements) among the records read.
    replays: int = 0


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """Everything ``isthmus status`` looked at. ``stack``: the local stack's services (``ServiceStatus.as_dict``,
    and ``used``: False for one the settings point away from, which is not judged), None when there is no local
    stack; an ``*_error`` names what could not be read (and why)."""

    kafka: str
    kafka_error: str | None = None
    connect: str
    connect_error: str | None = None
    connectors: tuple[ConnectorState, ...] = ()
    #: Each connector's signs of life (:class:`Capture`), when they were read.
    captures: Mapping[str, Capture] = field(default_factory=dict)
    flows: tuple[Consumer, ...] = ()
    sinks: tuple[Consumer, ...] = ()
    consumers_error: str | None = None
    dead_letters: Counted | None = None
    holds: Counted | None = None
    stack: tuple[Mapping[str, Any], ...] | None = None
    stack_home: str | None = None
    #: The replication slot of each PostgreSQL system's connector (:func:`streams.catalog.live.replication_slot`),
    #: and why one could not be read (``slot_errors``).
    slots: tuple[Slot, ...] = ()
    slot_errors: tuple[str, ...] = ()


def _size(count: int) -> str:
    """``count`` bytes as PostgreSQL's ``pg_size_pretty`` would say them, roughly: ``73 MB``."""
    size, unit = float(count), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if abs(size) < 10240:
            break
        size, unit = size / 1024, bigger
    return f"{size:.0f} {unit}"


def slot_text(slot: Slot) -> str:
    """One line on a replication slot: whether a connector reads it, the WAL it keeps, and what to do about an
    idle one (a slot nothing reads keeps every WAL segment written since, until the disk is full, unless the
    server's ``max_slot_wal_keep_size`` bounds it)."""
    if not slot.exists:
        return (f"slot {slot.name} ({slot.connector}): does not exist (the connector makes it when its task starts, "
                "then snapshots again if it had streamed before: connect-configs/README.md, \"Lost position\")")
    kept = "unknown" if slot.retained_bytes is None else _size(slot.retained_bytes)
    bound = ("no bound: max_slot_wal_keep_size is -1, so it can fill the disk" if slot.keep_size in ("-1", None)
             else f"max_slot_wal_keep_size {slot.keep_size}")
    line = (f"slot {slot.name} ({slot.connector}): {'active' if slot.active else 'INACTIVE'}, keeps {kept} of WAL "
            f"(wal_status {slot.wal_status or 'unknown'}; {bound})")
    if slot.wal_status == "lost":
        return line + (f"; the WAL it needed is gone: {slot.connector} cannot resume from it (connect-configs/"
                       "README.md, \"Lost position: a dropped replication slot\")")
    if not slot.active:
        return line + (f"; nothing reads it, so it keeps every change made since: start {slot.connector} (Kafka "
                       "Connect and its task), or drop the slot if the connector is gone for good")
    return line


@dataclass(frozen=True)
class Verdict:
    """What is down or failing (``problems``: exit 1), else what waits for a user's action or look: the documents
    held (``held``), the dead letters pending (``pending``) and the flows and sinks behind (``behind``), exit 3;
    else healthy."""

    problems: tuple[str, ...]
    held: tuple[str, ...]
    pending: tuple[str, ...] = ()
    behind: tuple[str, ...] = ()

    @property
    def code(self) -> int:
        return EXIT_UNHEALTHY if self.problems else EXIT_HELD if self.held or self.pending or self.behind \
            else EXIT_HEALTHY

    @property
    def line(self) -> str:
        if self.problems:
            return "NOT HEALTHY: " + "; ".join(self.problems)
        waiting = []
        if self.held:
            waiting.append("documents are held: " + "; ".join(self.held)
                           + " (`isthmus topics trace <key>` or the dashboard's Held documents say why)")
        if self.pending:
            waiting.append("dead letters are pending: " + "; ".join(self.pending) + f" ({DEAD_LETTERS_TODO})")
        if self.behind:
            waiting.append("; ".join(self.behind) + f" ({BEHIND_TODO})")
        return "running, but " + "; ".join(waiting) if waiting else "healthy"


# -- flows and their groups ------------------------------------------------------------------------------


def flow_of(group: str, bases: Mapping[str, str]) -> str | None:
    """The flow (of ``bases``: flow -> its group name) whose group ``group`` is: the base itself, or the base and
    one of the stages' endings (:data:`_SHAPE`)."""
    found = [flow for flow, base in bases.items()
             if group == base or (group.startswith(base) and _SHAPE.match(group[len(base):]))]
    return found[0] if found else None


def layout_of(group: str, base: str) -> str | None:
    """The layout a flow's group belongs to: ``"1"`` (unpartitioned), the partition count of ``-p<N>[-keying]``,
    or None for a feeder (``-results-keying``), which runs with every layout."""
    rest = group[len(base):]
    if not rest:
        return "1"
    matched = _SHAPE.match(rest)
    return matched["partitions"] if matched else None


def waiting(consumer: Consumer, groups: Iterable[GroupInfo] | None = None) -> int:
    """The lag of ``groups`` (default: all of the consumer's, and a sink's without a group yet), summed over their
    topics."""
    chosen = consumer.lag if groups is None else [g.group for g in groups]
    return sum(sum(consumer.lag.get(group, {}).values()) for group in chosen)


def waiting_text(consumer: Consumer, groups: Iterable[GroupInfo] | None = None) -> str:
    """``N record(s) waiting``, ``about N`` when a topic's lag was offsets (:attr:`Consumer.about`)."""
    chosen = None if groups is None else tuple(groups)
    about = any(consumer.about.get(group) for group in (consumer.about if chosen is None else
                                                        [g.group for g in chosen]))
    return f"{'about ' if about else ''}{waiting(consumer, chosen)} record(s) waiting"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.0f} h"


def commit_text(activity: Activity) -> str:
    """When the sink last began a transaction, as a reader says it."""
    ago = activity.ago_s(activity.last_commit_ms)
    said = f"last commit {_duration(ago)} ago" if ago is not None else \
        "no commit known" if activity.error else "no commit since its worker started"
    return said + (f" (its transactions could not be described: {activity.error})" if activity.error else "")


def sink_state(consumer: Consumer, activity: Activity) -> tuple[str, list[str]]:
    """``(state, problems)`` of a sink from its :class:`Activity`: ``running`` (a transaction within the bound),
    ``stalled`` (a transaction within the bound, but its note says its offsets have not moved for longer than the
    bound, while records wait that long: its target fails), ``idle`` (nothing waits, no transaction within the
    bound), ``waiting`` (records wait, none for longer than the bound yet), or ``not running`` (records wait longer
    than the bound and no transaction began within it)."""
    records = waiting(consumer)
    committed = activity.ago_s(activity.last_commit_ms)
    oldest = activity.ago_s(activity.oldest_waiting_ms)
    since = "" if oldest is None else f", the oldest for {_duration(oldest)}"
    if committed is not None and committed <= activity.stall_s:
        note = activity.note
        moved = None if note is None else activity.ago_s(note.advanced_ms)
        if note is None or not records or (moved is not None and moved <= activity.stall_s) \
                or (oldest is not None and oldest <= activity.stall_s):
            return "running", []
        return "stalled", [f"sink {consumer.name} runs but applies nothing ({waiting_text(consumer)}{since}; "
                           f"{advance_text(activity)}; {note.text()}): its target is failing and the sink retries "
                           f"on its own; read its log, and isthmus_sink_breaker_state on its /metrics; do not start "
                           f"a second sink"]
    if not records:
        return "idle", []
    if oldest is not None and oldest <= activity.stall_s:
        return "waiting", []
    return "not running", [f"sink {consumer.name} not running ({waiting_text(consumer)}{since}; "
                           f"{commit_text(activity)}; a running sink commits every {HEARTBEAT_S:.0f} s at least "
                           f"while records wait): start `isthmus sink --target {consumer.name}`; if one runs, read "
                           "its log (its commits to Kafka fail)"]


def advance_text(activity: Activity) -> str:
    """When the sink's offsets last moved, as its note says."""
    moved = None if activity.note is None else activity.ago_s(activity.note.advanced_ms)
    return "nothing applied since its worker started" if moved is None else f"last applied {_duration(moved)} ago"


def consumer_state(consumer: Consumer) -> tuple[str, list[str]]:
    """``(state, problems)`` of a flow or sink: ``running``, ``not started``
    (no group), ``not running`` (no group has a member), or ``partly running`` (a stage of the layout that runs,
    or a feeder, has no member; or two layouts run at once). A sink's group never has a member, and it has none
    before its first command: its state is :func:`sink_state`."""
    what, base = f"{consumer.kind} {consumer.name}", consumer.base
    live = [g for g in consumer.groups if g.members]
    if not live and consumer.activity is not None:
        return sink_state(consumer, consumer.activity)
    if not consumer.groups:
        return "not started", [f"{what} not started (no group {base})"]
    if not live:
        return "not running", [f"{what} not running ({waiting_text(consumer)})"]
    layouts = {layout for g in live if (layout := layout_of(g.group, base)) is not None}
    problems = []
    if len(layouts) > 1:
        problems.append(f"{what} runs with {' and '.join(sorted(layouts, key=int))} partitions at once: give every "
                        "worker the same ISTHMUS_FLOW_PARTITIONS")
    # The groups of the layout that runs and the feeders; with only feeders running, every stage's group (else the
    # flow's own group, no member and records waiting, read as running).
    idle = [g for g in consumer.groups if not g.members
            and (not layouts or layout_of(g.group, base) in {*layouts, None})]
    if idle:
        problems.append(f"{what} partly running: no member in {', '.join(g.group for g in idle)} "
                        f"({waiting_text(consumer, idle)})")
    return ("partly running" if problems else "running"), problems


def first_line(trace: str | None) -> str:
    """The first line of a Java stack trace (the exception and its message), cut to :data:`TRACE_SHOWN`."""
    return _cut(next((text.strip() for text in (trace or "").splitlines() if text.strip()), "(no trace)"))


def root_cause(trace: str | None) -> str:
    """A failed task's root cause (:func:`streams.capture.client.root_cause`: its trace's last ``Caused by:``, which
    names e.g. the group an ACL does not allow), cut to :data:`TRACE_SHOWN`."""
    return _cut(client.root_cause(trace))


def _cut(line: str) -> str:
    return line if len(line) <= TRACE_SHOWN else line[:TRACE_SHOWN - 1] + "…"


def verdict(pipeline: Pipeline) -> Verdict:
    """What is down or failing in ``pipeline``, and what is held."""
    problems: list[str] = []
    down = [f"{s['name']} {s['state']}" for s in pipeline.stack or ()
            if s["state"] not in ("running", "not started") and s.get("used", True)]
    if down:
        problems.append(f"local stack: {', '.join(down)}")
    if pipeline.kafka_error:
        problems.append("Kafka unreachable")
    if pipeline.connect_error:
        problems.append("Kafka Connect unreachable")
    elif not pipeline.connectors:
        problems.append("no connector deployed")
    problems += connector_problems(pipeline.connectors, pipeline.captures)
    if pipeline.consumers_error:
        problems.append("flows and sinks unknown")
    found, late = consumers_judged((*pipeline.flows, *pipeline.sinks))
    problems += found
    return judge(problems, {c.name: c.held for c in pipeline.flows}, pipeline.holds, pipeline.dead_letters,
                 behind=late)


def connector_problems(states: Iterable[ConnectorState], captures: Mapping[str, Capture]) -> list[str]:
    """What is wrong with the connectors, as ``isthmus status`` and the dashboard say it: each one not running (with
    the recovery when a task lost its source position), each RUNNING one whose signs of life are too old."""
    problems: list[str] = []
    for state in states:
        if not state.running:
            lost = [found for _, trace in state.failures if (found := lost_position(trace)) is not None]
            known = [hint for _, trace in state.failures if (hint := known_failure(trace, state.name)) is not None]
            problems.append(f"connector {state.name} ({summary(state)})" + (
                f": {lost[0].what}; {lost[0].recovery(state.name)}" if lost else f": {known[0]}" if known else ""))
        elif (capture := captures.get(state.name)) is not None and capture.stalled:
            problems.append(f"connector {state.name} capture stalled: RUNNING, but its newest heartbeat or record in "
                            f"{capture.topic} is {_duration(capture.age_s or 0)} old (heartbeat every "
                            f"{_duration(capture.interval_s or 0)}): "
                            + CAPTURE_STALLED_TODO.format(name=state.name))
    return problems


def judge(problems: Sequence[str], held_by: Mapping[str, int], holds: Counted | None,
          letters: Counted | None, *, behind: Sequence[str] = ()) -> Verdict:
    """The one judgement of ``isthmus status`` and the dashboard (``/api/state``): ``problems`` (what is down or
    failing, as each found it), else what waits for a user's action: the documents each flow holds (the holds
    topic's count when no flow is named), and the dead letters pending."""
    held = [f"flow {flow} holds {count}" for flow, count in held_by.items() if count]
    if holds is not None and holds.count and not held:
        held = [f"{holds.count} in {holds.topic}"]
    pending = [f"{'' if letters.complete else 'at least '}{letters.pending} in {letters.topic}"] \
        if letters is not None and letters.pending else []
    return Verdict(tuple(problems), tuple(held), tuple(pending), tuple(behind))


def consumers_judged(consumers: Iterable[Consumer]) -> tuple[list[str], list[str]]:
    """What is wrong with each flow and sink (:func:`consumer_state`), and which of those that run are behind
    (:func:`behind`): ``isthmus status``'s and the dashboard's one judgement of them."""
    problems: list[str] = []
    late: list[str] = []
    for consumer in consumers:
        state, found = consumer_state(consumer)
        problems += found
        if not found and (said := behind(consumer, state)) is not None:
            late.append(said)
    return problems, late


def lateness(consumer: Consumer, state: str) -> float | None:
    """Seconds ago the oldest record waiting for a flow or sink that runs was written, when that is longer than its
    ``behind_s``; None when it is not behind, or is judged otherwise (not running, stalled: a problem)."""
    oldest = consumer.oldest_waiting_ms
    if state not in ("running", "waiting", "partly running") or oldest is None:
        return None
    age = max(0.0, (consumer.checked_ms - oldest) / 1000)
    return age if age > consumer.behind_s else None


def behind(consumer: Consumer, state: str) -> str | None:
    """How far behind a flow or sink that runs is (:func:`lateness`), said: a new user's ERP was 25 minutes behind
    its CRM, 63,910 commands waiting, and status said healthy."""
    age = lateness(consumer, state)
    if age is None:
        return None
    return (f"{consumer.kind} {consumer.name} is {_duration(age)} behind (its oldest record waiting was written "
            f"{_duration(age)} ago; {waiting_text(consumer)})")


# -- text and JSON ---------------------------------------------------------------------------------------


def _members(group: GroupInfo) -> str:
    if not group.members:
        return "no member"
    shown = ", ".join(f"{m.client or '?'} ({m.host.lstrip('/')}, {m.partitions} partition"
                      f"{'' if m.partitions == 1 else 's'})" for m in group.members)
    return f"{len(group.members)} member{'' if len(group.members) == 1 else 's'}: {shown}"


def _lag(lag: Mapping[str, int], about: frozenset[str]) -> str:
    return "  ".join(f"{topic} {'about ' if topic in about else ''}{n}" for topic, n in sorted(lag.items())) \
        if lag else "nothing committed yet"


def consumer_lines(consumer: Consumer) -> list[str]:
    state, _ = consumer_state(consumer)
    late = lateness(consumer, state)
    lines = [f"  {consumer.name}  {state}" + (f", {consumer.held} held" if consumer.held else "")
             + (f", {_duration(late)} behind" if late is not None else "")]
    if consumer.activity is not None:
        lines.append(f"    {commit_text(consumer.activity)}")
    if consumer.activity is not None and consumer.activity.note is not None:
        lines.append(f"    {advance_text(consumer.activity)}; {consumer.activity.note.text()}")
    if consumer.activity is not None and not consumer.groups:
        base = consumer.base
        lines.append(f"    group {base}  none yet (a sink commits its first offsets with its first command)")
        lines.append(f"      lag  {_lag(consumer.lag.get(base, {}), consumer.about.get(base, frozenset()))}")
    for group in consumer.groups:
        members = _members(group) if group.members or consumer.activity is None else "no member (a sink joins none)"
        lines.append(f"    group {group.group}  {group.state}, {members}")
        about = consumer.about.get(group.group, frozenset())
        lines.append(f"      lag  {_lag(consumer.lag.get(group.group, {}), about)}")
    return lines


def _counted(what: str, counted: Counted | None, unit: str, hint: str) -> str:
    if counted is None:
        return f"{what}: not read"
    if counted.count is None:
        return f"{what}: none ({counted.topic} does not exist)"
    at_least = "" if counted.complete else "at least "
    return f"{what}: {at_least}{counted.count} {unit} in {counted.topic}" + (f" ({hint})" if counted.count else "")


def _dead_letters(counted: Counted | None) -> str:
    """The dead letters' line: how many letters, how many of them pending and what to do with those. When only the
    topic's end was read, it says so, and what was found there (letters, or only the replays of older ones)."""
    if counted is None or counted.count is None or counted.pending is None:
        return _counted("dead letters", counted, "letters", "")
    where = counted.topic if counted.complete else (
        f"the last {counted.last or 'few'} offsets of each partition of {counted.topic} (older letters not read: "
        "`isthmus topics dlq list --pending` lists every pending one)")
    if not counted.count:
        replays = f", only {counted.replays} replay{'' if counted.replays == 1 else 's'} of older letters" \
            if counted.replays else ""
        return f"dead letters: none in {where}{replays}"
    read = f"dead letters: {counted.count} letter{'' if counted.count == 1 else 's'} in {where}"
    if not counted.pending:
        return read + (", none pending (each replayed or settled)" if counted.complete else
                       ", none of them pending (each replayed or settled)")
    at_least = "" if counted.complete else "at least "
    return f"{read}, {at_least}{counted.pending} pending ({DEAD_LETTERS_TODO})"


def render(pipeline: Pipeline, result: Verdict) -> list[str]:
    """The report as text, the verdict on its last line."""
    lines: list[str] = []
    if pipeline.stack is not None:
        lines.append(f"local stack ({pipeline.stack_home})")
        width = max((len(str(s["name"])) for s in pipeline.stack), default=0)
        states = [str(s["state"]) if s.get("used", True) else "not used" for s in pipeline.stack]
        wide = max((len(state) for state in states), default=0)
        for s, shown_state in zip(pipeline.stack, states, strict=True):
            pid = str(s["pid"]) if s["pid"] else "-"
            lines.append(f"  {s['name']:<{width}}  {shown_state:<{max(wide, 9)}}  pid {pid:<7}  {s['address']}")
    lines.append(f"kafka {pipeline.kafka}: " + (pipeline.kafka_error or "reachable"))
    lines.append(f"connectors ({pipeline.connect})" + (
        f": {pipeline.connect_error}" if pipeline.connect_error else "" if pipeline.connectors
        else ": none deployed (`isthmus connectors deploy`)"))
    for state in pipeline.connectors:
        tasks = " ".join(f"{t.id}:{t.state}" for t in state.tasks) or "no task"
        lines.append(f"  {state.name}  {state.state}  tasks {tasks}")
        if (capture := pipeline.captures.get(state.name)) is not None:
            lines.append(f"    {capture.text()}" + (" STALLED" if state.running and capture.stalled else ""))
        for what, trace in state.failures:
            lost = lost_position(trace)
            lines.append(f"    {what} FAILED: {root_cause(trace) if lost is None else lost.cause}")
            if lost is not None:
                lines.append(f"      {lost.what}: {lost.recovery(state.name)}")
            elif (known := known_failure(trace, state.name)) is not None:
                lines.append(f"      {known}")
    if pipeline.slots or pipeline.slot_errors:
        lines.append("replication slots (PostgreSQL)")
        lines += [f"  {slot_text(slot)}" for slot in pipeline.slots]
        lines += [f"  {error}" for error in pipeline.slot_errors]
    if pipeline.consumers_error:
        lines.append(f"flows and sinks: {pipeline.consumers_error}")
    for title, consumers in (("flows", pipeline.flows), ("sinks", pipeline.sinks)):
        if consumers:
            lines.append(title)
            for consumer in consumers:
                lines += consumer_lines(consumer)
    lines.append(_dead_letters(pipeline.dead_letters))
    lines.append(_counted("held documents", pipeline.holds, "held",
                          "`isthmus topics trace <key>`, the dashboard's Held documents"))
    lines.append(result.line)
    return lines


def _group_document(group: GroupInfo, lag: Mapping[str, int], about: frozenset[str]) -> dict[str, Any]:
    return {"group": group.group, "state": group.state,
            "members": [{"client_id": m.client, "host": m.host, "partitions": m.partitions}
                        for m in group.members],
            "lag": dict(sorted(lag.items())), "lag_about": sorted(about)}


def _activity_document(activity: Activity | None) -> dict[str, Any] | None:
    if activity is None:
        return None
    return {"last_commit_ms": activity.last_commit_ms, "last_commit_s_ago": activity.ago_s(activity.last_commit_ms),
            "oldest_waiting_ms": activity.oldest_waiting_ms, "stall_after_s": activity.stall_s,
            "error": activity.error, "note": None if activity.note is None else asdict(activity.note)}


def _capture_document(capture: Capture | None) -> dict[str, Any] | None:
    if capture is None:
        return None
    return {"heartbeat_topic": capture.topic, "heartbeat_interval_s": capture.interval_s,
            "last_record_ms": capture.last_ms, "age_s": capture.age_s, "stalled_after_s": capture.stall_s,
            "stalled": capture.stalled, "error": capture.error}


def _failure_document(connector: str, what: str, trace: str) -> dict[str, Any]:
    found: dict[str, Any] = {"what": what, "trace_first_line": first_line(trace), "root_cause": root_cause(trace)}
    lost = lost_position(trace)
    if lost is not None:
        found["lost_position"] = {"engine": lost.engine, "kind": lost.kind, "cause": lost.cause, "what": lost.what,
                                  "recovery": lost.recovery(connector)}
    return found


def document(pipeline: Pipeline, result: Verdict) -> dict[str, Any]:
    """The report as one JSON document (``isthmus status --json``)."""

    def consumer(c: Consumer) -> dict[str, Any]:
        return {"name": c.name, "state": consumer_state(c)[0], "held": c.held, "waiting": waiting(c),
                "oldest_waiting_ms": c.oldest_waiting_ms, "activity": _activity_document(c.activity),
                "groups": [_group_document(g, c.lag.get(g.group, {}), c.about.get(g.group, frozenset()))
                           for g in c.groups]}

    def counted(c: Counted | None) -> dict[str, Any] | None:
        return None if c is None else {"topic": c.topic, "count": c.count, "complete": c.complete,
                                       **({} if c.pending is None else {"pending": c.pending}),
                                       **({} if c.complete or c.last is None else {"read_last_offsets": c.last})}

    return {
        "healthy": result.code == EXIT_HEALTHY, "exit_code": result.code, "verdict": result.line,
        "problems": list(result.problems), "held": list(result.held), "pending": list(result.pending),
        "behind": list(result.behind),
        "stack": None if pipeline.stack is None else {"home": pipeline.stack_home,
                                                       "services": [dict(s) for s in pipeline.stack]},
        "kafka": {"bootstrap": pipeline.kafka, "error": pipeline.kafka_error},
        "connect": {"url": pipeline.connect, "error": pipeline.connect_error,
                    "connectors": [{**s.to_json(), "running": s.running,
                                    "capture": _capture_document(pipeline.captures.get(s.name)),
                                    "failures": [_failure_document(s.name, what, trace)
                                                 for what, trace in s.failures]} for s in pipeline.connectors]},
        "replication_slots": [{"system": s.system, "connector": s.connector, "slot": s.name, "exists": s.exists,
                               "active": s.active, "retained_wal_bytes": s.retained_bytes,
                               "wal_status": s.wal_status, "max_slot_wal_keep_size": s.keep_size}
                              for s in pipeline.slots],
        "replication_slot_errors": list(pipeline.slot_errors),
        "flows": [consumer(c) for c in pipeline.flows], "sinks": [consumer(c) for c in pipeline.sinks],
        "consumers_error": pipeline.consumers_error,
        "dead_letters": counted(pipeline.dead_letters), "holds": counted(pipeline.holds),
    }


def held_by_flow(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many of the held ``records`` (decoded Hold records, :func:`streams.dashboard.sources.held_now`) each
    flow holds."""
    found: dict[str, int] = {}
    for record in records:
        flow = str(record["value"].get("flow") or "")
        found[flow] = found.get(flow, 0) + 1
    return found


__all__ = ["EXIT_HEALTHY", "EXIT_HELD", "EXIT_UNHEALTHY", "Activity", "Capture", "Consumer", "Counted", "Pipeline",
           "Verdict", "advance_text", "behind", "commit_text", "connector_problems", "consumer_state",
           "consumers_judged", "document", "first_line", "flow_of", "held_by_flow", "judge", "lateness", "layout_of",
           "render", "root_cause", "sink_state", "slot_text", "verdict", "waiting_text"]
