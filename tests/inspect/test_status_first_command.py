"""`isthmus status` on a pipeline that has just started: a sink that runs but has had no command yet, and dead
letters waiting for a user (streams/cli/pipeline.py, streams/inspect/health.py).

A sink joins no group and commits its first offsets with its first command, so a running sink sent nothing yet has
no group at all: status once called it "not started (no group isthmus-sink-<system>)", NOT HEALTHY. It is judged
by what its command topic holds from its start instead, as a sink with a group is by what waits past its commit.

Dead letters were counted as offsets (their replay notes and transaction markers take offsets too) and never
changed the verdict: pending ones (never replayed or settled) now take exit 3, as held documents do, and say what to
do with them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from streams.capture.client import ConnectorState, TaskState
from streams.cli import pipeline
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect import health
from streams.inspect.admin import GroupInfo, LagRow, PartitionInfo, TopicInfo
from streams.inspect.decoding import RawRecord
from streams.kafka.deadletters import REPLAY_NOTE
from streams.sinks.records import Original, dead_letter_value

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
NOW_MS = 1_800_000_000_000
COMMANDS, DLQ = "isthmus.commands.depot", "isthmus.dlq"
CONSUMERS = {("flow", "isthmus-jobs"): "isthmus-jobs", ("sink", "depot"): "isthmus-sink-depot",
             ("sink", "roster"): "isthmus-sink-roster"}


def running(**given: object) -> health.Pipeline:
    """A pipeline whose one connector runs, with ``given``."""
    source = ConnectorState(name="depot-source", type="source", state="RUNNING", worker_id="c:8083",
                            tasks=(TaskState(id=0, state="RUNNING", worker_id="c:8083", trace=None),))
    return health.Pipeline(kafka="k:9092", connect="http://c:8083", connectors=(source,), **given)  # type: ignore[arg-type]


def topic(name: str, *spans: tuple[int, int]) -> TopicInfo:
    return TopicInfo(name=name, internal=False, config={}, partitions=tuple(
        PartitionInfo(partition=n, leader=1, replicas=(1,), isr=(1,), begin=begin, end=end)
        for n, (begin, end) in enumerate(spans)))


class Cluster:
    """What the admin client and the reader answer: the groups, their committed offsets, the command topics and
    their records (each offset a record unless listed as a marker)."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupInfo] = {"isthmus-jobs": GroupInfo(group="isthmus-jobs", state="Stable",
                                                                       members=())}
        self.rows: list[LagRow] = []
        self.topics = {COMMANDS: topic(COMMANDS, (0, 0), (0, 0), (0, 0)),
                       "isthmus.commands.roster": topic("isthmus.commands.roster", (0, 0), (0, 0), (0, 0))}
        self.markers: set[tuple[str, int, int]] = set()
        self.written_ms = NOW_MS

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pipeline.admin, "groups", lambda kafka, chosen: {
            g: info for g, info in self.groups.items() if chosen(g)})
        monkeypatch.setattr(pipeline.admin, "lag", lambda kafka, groups: [r for r in self.rows if r.group in groups])
        monkeypatch.setattr(pipeline.admin, "topics", lambda kafka, names, config_keys: [
            self.topics[n] for n in names])
        monkeypatch.setattr(pipeline.admin, "transactions_started", lambda kafka, ids: dict.fromkeys(ids))
        monkeypatch.setattr(pipeline, "read_spans", self.read_spans)

    def read_spans(self, kafka: object, spans: Mapping[tuple[str, int], tuple[int, int]]) -> list[RawRecord]:
        return [RawRecord(topic=t, partition=p, offset=o, timestamp_ms=self.written_ms, key=None, value=b"{}")
                for (t, p), (begin, end) in spans.items() for o in range(begin, end) if (t, p, o) not in self.markers]

    def sinks(self, stall_s: float = 120) -> dict[str, health.Consumer]:
        _, sinks = pipeline._consumers(object(), CONSUMERS, {}, stall_s, set(self.topics))  # type: ignore[arg-type]
        return {s.name: s for s in sinks}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    found = Cluster()
    found.install(monkeypatch)
    monkeypatch.setattr(pipeline.time, "time", lambda: NOW_MS / 1000)
    return found


def test_a_sink_without_a_group_is_judged_by_what_waits_for_it() -> None:
    activity = health.Activity(checked_ms=NOW_MS, stall_s=120)
    depot = health.Consumer(kind="sink", name="depot", base="isthmus-sink-depot",
                            lag={"isthmus-sink-depot": {COMMANDS: 0}}, activity=activity)
    assert health.consumer_state(depot) == ("idle", [])
    assert health.verdict(running(sinks=(depot,))).code == health.EXIT_HEALTHY


def test_a_running_sink_sent_no_command_yet_is_idle_not_unstarted(cluster: Cluster) -> None:
    """The depot sink runs: it made its command topic and waits on it; nothing was sent, so nothing committed and
    it has no group. roster's command topic does not even exist yet."""
    del cluster.topics["isthmus.commands.roster"]
    sinks = cluster.sinks()
    for name in ("depot", "roster"):
        assert health.consumer_state(sinks[name]) == ("idle", []), name
    given = running(sinks=tuple(sinks.values()))
    result = health.verdict(given)
    assert (result.code, result.line) == (health.EXIT_HEALTHY, "healthy")
    text = health.render(given, result)
    assert "  depot  idle" in text
    assert "    group isthmus-sink-depot  none yet (a sink commits its first offsets with its first command)" in text
    assert f"      lag  {COMMANDS} 0" in text
    [depot, _] = health.document(given, result)["sinks"]
    assert (depot["state"], depot["groups"], depot["waiting"]) == ("idle", [], 0)


def test_commands_waiting_from_the_start_for_a_sink_that_never_committed_are_counted(cluster: Cluster) -> None:
    """Three commands in partition 1 (a commit marker after them), none applied: the sink never committed."""
    cluster.topics[COMMANDS] = topic(COMMANDS, (0, 0), (0, 4), (0, 0))
    cluster.markers.add((COMMANDS, 1, 3))
    cluster.written_ms = NOW_MS - 5_000
    assert health.consumer_state(cluster.sinks()["depot"]) == ("waiting", [])
    cluster.written_ms = NOW_MS - 600_000
    state, problems = health.consumer_state(cluster.sinks()["depot"])
    assert state == "not running"
    assert problems == ["sink depot not running (3 record(s) waiting, the oldest for 10 min; no commit since its "
                        "worker started; a running sink commits every 30 s at least while records wait): start "
                        "`isthmus sink --target depot`; if one runs, read its log (its commits to Kafka fail)"]


def test_a_partition_a_sink_never_committed_on_waits_from_its_start(cluster: Cluster) -> None:
    """The sink committed on partition 0 only; two commands wait on partition 2, which it never committed on."""
    cluster.groups["isthmus-sink-depot"] = GroupInfo(group="isthmus-sink-depot", state="Empty", members=())
    cluster.rows = [LagRow(group="isthmus-sink-depot", topic=COMMANDS, partition=0, committed=6, end=6)]
    cluster.topics[COMMANDS] = topic(COMMANDS, (0, 6), (0, 0), (0, 2))
    depot = cluster.sinks()["depot"]
    assert depot.lag == {"isthmus-sink-depot": {COMMANDS: 2}}
    assert health.consumer_state(depot)[0] == "waiting"


def test_a_flow_without_a_group_is_still_not_started(cluster: Cluster) -> None:
    """A flow's worker joins its group on start, committed or not: no group is no worker."""
    del cluster.groups["isthmus-jobs"]
    flows, _ = pipeline._consumers(object(), CONSUMERS, {}, 120, set(cluster.topics))  # type: ignore[arg-type]
    assert health.consumer_state(flows[0]) == ("not started", ["flow isthmus-jobs not started (no group "
                                                                "isthmus-jobs)"])


# -- dead letters -------------------------------------------------------------------------------------------------

def _letter(offset: int) -> bytes:
    original = Original(topic=COMMANDS, partition=0, offset=offset, timestamp_ms=NOW_MS, key=f"J-{offset}".encode(),
                        value=b"\x00")
    return STORE.encode("DeadLetter", dead_letter_value(original, reason="422 unknown site", error_type="Http422",
                                                        stage="sink.depot", attempts=1, worker="w"))


def _note(offset: int, way: str) -> bytes:
    return STORE.encode(REPLAY_NOTE, {"dlq_topic": DLQ, "dlq_partition": 0, "dlq_offset": offset,
                                      "replayed_to": "isthmus.commands.depot[0]@9", "way": way,
                                      "replayed_at": datetime(2026, 1, 1, tzinfo=UTC)})


class Letters:
    """The dead-letter topic's records by offset (an offset not listed: a transaction marker) and the spans read."""

    def __init__(self, records: dict[int, bytes]) -> None:
        self.records = records
        self.asked: list[dict[tuple[str, int], tuple[int, int]]] = []

    def read_spans(self, kafka: object, spans: Mapping[tuple[str, int], tuple[int, int]]) -> list[RawRecord]:
        self.asked.append(dict(spans))
        return [RawRecord(topic=t, partition=p, offset=o, timestamp_ms=NOW_MS, key=None, value=self.records[o])
                for (t, p), (begin, end) in spans.items() for o in range(begin, end) if o in self.records]


def _counted(monkeypatch: pytest.MonkeyPatch, records: dict[int, bytes], end: int) -> tuple[health.Counted, Letters]:
    letters = Letters(records)
    monkeypatch.setattr(pipeline, "read_spans", letters.read_spans)
    return pipeline.dead_letters(object(), topic(DLQ, (0, end)), STORE), letters  # type: ignore[arg-type]


def test_dead_letters_are_counted_as_letters_and_pending_ones_need_action_exit_3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three letters, each written in a transaction of its own (a marker after each): six offsets; one replayed
    since (its note, and the note's marker: eight offsets), so two are pending."""
    counted, _ = _counted(monkeypatch, {0: _letter(40), 2: _letter(41), 4: _letter(42), 6: _note(2, "as_stored")},
                          end=8)
    assert (counted.count, counted.pending, counted.complete) == (3, 2, True)
    given = running(dead_letters=counted)
    result = health.verdict(given)
    assert result.code == health.EXIT_HELD == 3
    assert result.line == ("running, but dead letters are pending: 2 in isthmus.dlq (`isthmus topics dlq list "
                           "--pending` lists them with their reasons; fix the cause, then `isthmus topics dlq replay`, "
                           "or `isthmus topics dlq settle` those not to replay)")
    text = health.render(given, result)
    assert any(line.startswith("dead letters: 3 letters in isthmus.dlq, 2 pending (`isthmus topics dlq list "
                               "--pending`") for line in text), text
    document = health.document(given, result)
    assert document["dead_letters"] == {"topic": DLQ, "count": 3, "complete": True, "pending": 2}
    assert document["exit_code"] == 3 and document["pending"] == ["2 in isthmus.dlq"]


def test_dead_letters_all_replayed_or_settled_leave_the_pipeline_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    counted, _ = _counted(monkeypatch, {0: _letter(40), 2: _note(0, "settled")}, end=4)
    assert (counted.count, counted.pending) == (1, 0)
    given = running(dead_letters=counted)
    assert health.verdict(given).line == "healthy"
    assert "dead letters: 1 letter in isthmus.dlq, none pending (each replayed or settled)" in health.render(
        given, health.verdict(given))


def test_a_long_dead_letter_topic_is_read_from_its_end_and_counted_at_least(monkeypatch: pytest.MonkeyPatch) -> None:
    end = pipeline.DEAD_LETTER_OFFSETS + 10
    counted, letters = _counted(monkeypatch, {end - 2: _letter(40)}, end=end)
    assert (counted.count, counted.pending, counted.complete) == (1, 1, False)
    assert letters.asked == [{(DLQ, 0): (10, end)}]
    result = health.verdict(running(dead_letters=counted))
    assert result.pending == ("at least 1 in isthmus.dlq",)


def test_a_topic_whose_end_holds_only_replays_says_so_not_at_least_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial replayed 2,000 dead letters: the topic's last offsets held only the replay notes, and status said
    "dead letters: at least 0 letters"."""
    end = pipeline.DEAD_LETTER_OFFSETS + 10
    notes = {end - 6: _note(0, "as_stored"), end - 4: _note(1, "rederive"), end - 2: _note(2, "as_stored")}
    counted, _ = _counted(monkeypatch, notes, end=end)
    assert (counted.count, counted.pending, counted.complete) == (0, 0, False)
    given = running(dead_letters=counted)
    result = health.verdict(given)
    assert result.line == "healthy"
    (line,) = [line for line in health.render(given, result) if line.startswith("dead letters")]
    assert line == (f"dead letters: none in the last {pipeline.DEAD_LETTER_OFFSETS} offsets of each partition of "
                    "isthmus.dlq (older letters not read: `isthmus topics dlq list --pending` lists every pending "
                    "one), only 3 replays of older letters")
    assert "at least" not in line


def test_both_held_documents_and_pending_dead_letters_are_named() -> None:
    result = health.Verdict((), ("flow isthmus-jobs holds 2",), ("1 in isthmus.dlq",))
    assert result.code == health.EXIT_HELD
    assert result.line.startswith("running, but documents are held: flow isthmus-jobs holds 2 (")
    assert "; dead letters are pending: 1 in isthmus.dlq (" in result.line


def test_letters_pending_at_the_end_of_a_long_topic_are_a_lower_bound() -> None:
    """A trial's status said "876 pending" where `dlq list --pending` listed 1,259: only the topic's last offsets
    were read (settle notes filled them), so the count is at least that many, and the line says so."""
    counted = health.Counted(topic="isthmus.dlq", count=900, complete=False, pending=876,
                             last=pipeline.DEAD_LETTER_OFFSETS)
    given = running(dead_letters=counted)
    (line,) = [line for line in health.render(given, health.verdict(given)) if line.startswith("dead letters")]
    assert line.startswith(f"dead letters: 900 letters in the last {pipeline.DEAD_LETTER_OFFSETS} offsets of each "
                           "partition of isthmus.dlq (older letters not read"), line
    assert ", at least 876 pending (" in line, line
