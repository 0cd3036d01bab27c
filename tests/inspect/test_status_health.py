"""`isthmus status`'s pure parts: whose consumer group is whose, each flow's and sink's state, the verdict and its
exit code from given states, and the text and JSON forms (streams/inspect/health.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.capture.client import ConnectorState, TaskState
from streams.catalog.live import Slot
from streams.inspect import health
from streams.inspect.admin import GroupInfo, GroupMember, _assigned
from streams.sinks.presence import SinkNote

TRACE = ("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
         "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n")
WORKER = GroupMember(client="isthmus-worker-w1", host="/10.0.0.7", partitions=3)


def group(name: str, *members: GroupMember) -> GroupInfo:
    return GroupInfo(group=name, state="Stable" if members else "Empty", members=members)


def flow(name: str, *groups: GroupInfo, lag: dict[str, dict[str, int]] | None = None, held: int = 0,
         base: str | None = None) -> health.Consumer:
    return health.Consumer(kind="flow", name=name, base=base or name, groups=groups, lag=lag or {}, held=held)


def connector(name: str, state: str = "RUNNING", *tasks: tuple[str, str | None]) -> ConnectorState:
    return ConnectorState(name=name, type="source", state=state, worker_id="connect:8083",
                          tasks=tuple(TaskState(id=i, state=s, worker_id="connect:8083", trace=t)
                                      for i, (s, t) in enumerate(tasks or (("RUNNING", None),))))


def pipeline(**given: Any) -> health.Pipeline:
    base: dict[str, Any] = {"kafka": "kafka-0:9093", "connect": "https://connect:8083",
                            "connectors": (connector("shop-source"),),
                            "flows": (flow("isthmus-parcels", group("isthmus-parcels", WORKER),
                                           lag={"isthmus-parcels": {"shop.shop.parcels": 1}}),),
                            "sinks": (health.Consumer(kind="sink", name="ledger", base="isthmus-sink-ledger",
                                                      groups=(group("isthmus-sink-ledger", WORKER),)),),
                            "dead_letters": health.Counted(topic="isthmus.dlq", count=0),
                            "holds": health.Counted(topic="isthmus.holds", count=0)}
    return health.Pipeline(**{**base, **given})


def test_a_group_belongs_to_a_flow_only_in_the_shapes_its_stages_are_named() -> None:
    bases = {"isthmus": "team-isthmus", "isthmus-parcels": "team-isthmus-parcels"}
    for group_name in ("team-isthmus-parcels", "team-isthmus-parcels-p3", "team-isthmus-parcels-p3-keying",
                       "team-isthmus-parcels-results-keying"):
        assert health.flow_of(group_name, bases) == "isthmus-parcels", group_name
    assert health.flow_of("team-isthmus-p2", bases) == "isthmus"
    # another flow's, or a test's group named after the flow, is not the flow's
    for group_name in ("team-isthmus-other", "team-isthmus-parcels-0e4f15", "team-isthmus-parcels-0e4f15-keying",
                       "team-isthmus-parcelsx", "connect-cluster"):
        assert health.flow_of(group_name, bases) is None, group_name


@pytest.mark.parametrize(("group_name", "layout"), [
    ("isthmus-parcels", "1"), ("isthmus-parcels-p3", "3"), ("isthmus-parcels-p3-keying", "3"),
    ("isthmus-parcels-results-keying", None)])
def test_a_flows_group_names_its_layout(group_name: str, layout: str | None) -> None:
    assert health.layout_of(group_name, "isthmus-parcels") == layout


def test_a_flow_without_a_group_was_never_started() -> None:
    state, problems = health.consumer_state(flow("isthmus-parcels", base="t-isthmus-parcels"))
    assert state == "not started"
    assert problems == ["flow isthmus-parcels not started (no group t-isthmus-parcels)"]


def test_a_flow_whose_groups_have_no_member_is_not_running_and_says_what_waits() -> None:
    stopped = flow("isthmus-parcels", group("isthmus-parcels"), group("isthmus-parcels-results-keying"),
                   lag={"isthmus-parcels": {"shop.shop.parcels": 40, "shop.shop.lines": 2},
                        "isthmus-parcels-results-keying": {"isthmus.results.ledger": 3}})
    assert health.consumer_state(stopped) == ("not running", ["flow isthmus-parcels not running (45 record(s) "
                                                              "waiting)"])


def test_an_old_layout_left_behind_is_no_problem_but_a_stage_of_the_running_one_is() -> None:
    keyed = group("isthmus-parcels-p3", WORKER)
    running = flow("isthmus-parcels", group("isthmus-parcels"), keyed, group("isthmus-parcels-p3-keying", WORKER))
    assert health.consumer_state(running) == ("running", [])
    stage_down = flow("isthmus-parcels", keyed, group("isthmus-parcels-p3-keying"),
                      lag={"isthmus-parcels-p3-keying": {"shop.shop.parcels": 7}})
    state, problems = health.consumer_state(stage_down)
    assert state == "partly running"
    assert problems == ["flow isthmus-parcels partly running: no member in isthmus-parcels-p3-keying (7 record(s) "
                        "waiting)"]
    feeder_down = flow("isthmus-parcels", group("isthmus-parcels", WORKER), group("isthmus-parcels-results-keying"))
    assert health.consumer_state(feeder_down)[0] == "partly running"


def test_a_flow_whose_feeder_alone_runs_is_not_running_its_own_group() -> None:
    """The flow's own group has no member (its worker restarting after an ACL refused it) while its results stage
    runs: before, only a running layout's groups were looked at, none ran, and the flow was said ``running``."""
    only_feeder = flow("isthmus-parcels", group("isthmus-parcels"),
                       group("isthmus-parcels-results-keying", WORKER),
                       lag={"isthmus-parcels": {"shop.shop.parcels": 3}})
    assert health.consumer_state(only_feeder) == (
        "partly running", ["flow isthmus-parcels partly running: no member in isthmus-parcels (3 record(s) waiting)"])


def test_two_layouts_running_at_once_are_named() -> None:
    both = flow("isthmus-parcels", group("isthmus-parcels", WORKER), group("isthmus-parcels-p3", WORKER),
                group("isthmus-parcels-p3-keying", WORKER))
    assert health.consumer_state(both)[1] == ["flow isthmus-parcels runs with 1 and 3 partitions at once: give every "
                                              "worker the same ISTHMUS_FLOW_PARTITIONS"]


def test_everything_running_is_healthy_with_exit_0() -> None:
    result = health.verdict(pipeline())
    assert (result.code, result.line, result.problems) == (health.EXIT_HEALTHY, "healthy", ())


def test_each_part_not_running_is_named_on_the_last_line_with_exit_1() -> None:
    given = pipeline(
        stack_home="/srv/isthmus", stack=({"name": "kafka", "state": "running", "pid": 7, "address": "127.0.0.1:19092"},
               {"name": "erp-api", "state": "stopped", "pid": None, "address": "http://127.0.0.1:18002"}),
        connectors=(connector("shop-source", "RUNNING", ("RUNNING", None), ("FAILED", TRACE)),
                    connector("ledger-source", "PAUSED", ("PAUSED", None))),
        flows=(flow("isthmus-parcels", group("isthmus-parcels"), lag={"isthmus-parcels": {"shop.shop.parcels": 12}}),
               flow("isthmus-stock")))
    result = health.verdict(given)
    assert result.code == health.EXIT_UNHEALTHY
    assert result.problems == (
        "local stack: erp-api stopped",
        "connector shop-source (connector RUNNING, tasks: 1 of 2 RUNNING, 1 FAILED (task 1))",
        "connector ledger-source (connector PAUSED, tasks: 1 of 1 PAUSED (task 0))",
        "flow isthmus-parcels not running (12 record(s) waiting)",
        "flow isthmus-stock not started (no group isthmus-stock)")
    text = health.render(given, result)
    assert text[-1] == "NOT HEALTHY: " + "; ".join(result.problems)
    assert "    task 1 FAILED: org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change " \
           "event producer." in text
    assert "      lag  shop.shop.parcels 12" in text
    assert "  isthmus-parcels  not running" in text
    assert text[:2] == ["local stack (/srv/isthmus)", "  kafka    running    pid 7        127.0.0.1:19092"]


def test_unreachable_services_and_no_connector_are_problems() -> None:
    result = health.verdict(pipeline(kafka_error="Kafka at kafka-0:9093 (SASL_SSL) cannot be reached", flows=(),
                                     sinks=(), connectors=(), connect_error=None))
    assert result.problems == ("Kafka unreachable", "no connector deployed")
    result = health.verdict(pipeline(connect_error="401 Unauthorized", connectors=()))
    assert result.problems == ("Kafka Connect unreachable",)


def test_held_documents_alone_exit_3_and_name_the_flow() -> None:
    given = pipeline(flows=(flow("isthmus-parcels", group("isthmus-parcels", WORKER), held=2),),
                     holds=health.Counted(topic="isthmus.holds", count=2))
    result = health.verdict(given)
    assert result.code == health.EXIT_HELD
    assert result.line.startswith("running, but documents are held: flow isthmus-parcels holds 2 (")
    assert "  isthmus-parcels  running, 2 held" in health.render(given, result)
    unhealthy = health.verdict(pipeline(flows=(flow("isthmus-parcels", held=2),)))
    assert unhealthy.code == health.EXIT_UNHEALTHY, "down outranks held"


def test_counts_say_when_the_topic_is_absent_or_only_its_end_was_read() -> None:
    text = health.render(pipeline(dead_letters=health.Counted(topic="t.isthmus.dlq", count=None),
                                  holds=health.Counted(topic="t.isthmus.holds", count=3, complete=False)),
                         health.Verdict((), ()))
    assert "dead letters: none (t.isthmus.dlq does not exist)" in text
    assert any(line.startswith("held documents: at least 3 held in t.isthmus.holds (") for line in text)


def test_members_are_shown_with_their_partitions() -> None:
    text = health.render(pipeline(), health.verdict(pipeline()))
    assert "    group isthmus-parcels  Stable, 1 member: isthmus-worker-w1 (10.0.0.7, 3 partitions)" in text
    assert "kafka kafka-0:9093: reachable" in text


def test_the_json_document_carries_verdict_states_members_and_lag() -> None:
    given = pipeline(connectors=(connector("shop-source", "RUNNING", ("FAILED", TRACE)),),
                     flows=(flow("isthmus-parcels", group("isthmus-parcels"),
                                 lag={"isthmus-parcels": {"shop.shop.parcels": 5}}),))
    document = json.loads(json.dumps(health.document(given, health.verdict(given))))
    assert document["healthy"] is False and document["exit_code"] == 1
    assert document["verdict"].startswith("NOT HEALTHY: connector shop-source")
    [shop] = document["connect"]["connectors"]
    assert shop["running"] is False
    assert shop["failures"] == [{"what": "task 0", "trace_first_line": TRACE.splitlines()[0],
                                 "root_cause": TRACE.splitlines()[0]}]
    [parcels] = document["flows"]
    assert parcels["state"] == "not running"
    assert parcels["groups"] == [{"group": "isthmus-parcels", "state": "Empty", "members": [],
                                  "lag": {"shop.shop.parcels": 5}, "lag_about": []}]
    assert parcels["activity"] is None
    assert document["sinks"][0]["groups"][0]["members"] == [{"client_id": "isthmus-worker-w1", "host": "/10.0.0.7",
                                                             "partitions": 3}]
    assert document["stack"] is None
    assert document["dead_letters"] == {"topic": "isthmus.dlq", "count": 0, "complete": True}


@pytest.mark.parametrize(("trace", "line"), [
    (TRACE, TRACE.splitlines()[0]), (None, "(no trace)"),
    ("\n  \n  java.lang.OutOfMemoryError\n", "java.lang.OutOfMemoryError"),
    ("x" * 300, "x" * (health.TRACE_SHOWN - 1) + "…")])
def test_a_trace_is_shown_by_its_first_line(trace: str | None, line: str) -> None:
    assert health.first_line(trace) == line


#: A task of a connector whose schema-history consumer may not join its group: Connect's task trace (its first line
#: Debezium's generic wrapper, the cause last).
DENIED = ("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. "
          "This connector will be stopped.\n"
          "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
          "\tat java.base/java.lang.Thread.run(Thread.java:840)\n"
          "Caused by: io.debezium.DebeziumException: wrapped\n\tat x\n"
          "Caused by: org.apache.kafka.common.errors.GroupAuthorizationException: Not authorized to access group: "
          "ledger-schemahistory\n")


def test_a_failed_task_is_shown_by_its_root_cause() -> None:
    """`isthmus status` showed Debezium's generic first line, not the authorization error that had failed the task."""
    given = pipeline(connectors=(connector("ledger-source", "RUNNING", ("FAILED", DENIED)),))
    cause = ("org.apache.kafka.common.errors.GroupAuthorizationException: Not authorized to access group: "
             "ledger-schemahistory")
    assert f"    task 0 FAILED: {cause}" in health.render(given, health.verdict(given))
    [ledger] = health.document(given, health.verdict(given))["connect"]["connectors"]
    assert ledger["failures"] == [{"what": "task 0", "trace_first_line": DENIED.splitlines()[0], "root_cause": cause}]
    assert health.root_cause(TRACE) == TRACE.splitlines()[0], "no cause: the first line"
    assert health.root_cause(None) == "(no trace)"


def test_held_records_count_per_flow() -> None:
    held = [{"key": "SO-1", "value": {"state": "held", "flow": "isthmus-parcels"}},
            {"key": "isthmus-stock:sku=1", "value": {"state": "held", "flow": "isthmus-stock"}},
            {"key": "SO-2", "value": {"state": "held", "flow": "isthmus-parcels"}}]
    assert health.held_by_flow(held) == {"isthmus-parcels": 2, "isthmus-stock": 1}


def test_a_members_assignment_is_counted_in_either_decoded_form() -> None:
    assert _assigned({"version": 0, "assigned_partitions": [{"topic": "a", "partitions": [0, 1]},
                                                            {"topic": "b", "partitions": [0]}]}) == 3

    class Decoded:
        def __init__(self) -> None:
            self.assigned_partitions = [("a", [0, 1, 2])]

    assert _assigned(Decoded()) == 3
    assert _assigned(b"") == 0 and _assigned(None) == 0


# -- sinks: they join no group, their transactions tell whether they run ------------------------------------------

NOW_MS = 1_800_000_000_000


def sink(*, waiting: int = 0, committed_s_ago: float | None = None, oldest_s_ago: float | None = None,
         about: bool = False, error: str | None = None, note: SinkNote | None = None) -> health.Consumer:
    """The ledger sink as ``isthmus status`` finds it: its group committed, never a member."""
    activity = health.Activity(
        checked_ms=NOW_MS, stall_s=120, error=error, note=note,
        last_commit_ms=None if committed_s_ago is None else NOW_MS - int(committed_s_ago * 1000),
        oldest_waiting_ms=None if oldest_s_ago is None else NOW_MS - int(oldest_s_ago * 1000))
    return health.Consumer(kind="sink", name="ledger", base="isthmus-sink-ledger",
                           groups=(group("isthmus-sink-ledger"),),
                           lag={"isthmus-sink-ledger": {"isthmus.commands.ledger": waiting}},
                           about={"isthmus-sink-ledger": frozenset({"isthmus.commands.ledger"} if about else ())},
                           activity=activity, oldest_waiting_ms=activity.oldest_waiting_ms, checked_ms=NOW_MS)


def test_a_sink_applying_and_committing_runs_though_its_group_has_no_member() -> None:
    for running, ago in ((sink(committed_s_ago=2), 2), (sink(waiting=6, committed_s_ago=1, oldest_s_ago=200), 1)):
        assert health.consumer_state(running) == ("running", [])
        given = pipeline(sinks=(running,))
        result = health.verdict(given)
        assert result.code == health.EXIT_HEALTHY, result.line
        text = health.render(given, result)
        assert "  ledger  running" in text and f"    last commit {ago} s ago" in text
        assert "    group isthmus-sink-ledger  Empty, no member (a sink joins none)" in text


def test_a_sink_with_nothing_waiting_is_idle_whether_or_not_it_runs() -> None:
    for idle in (sink(committed_s_ago=3600), sink(), sink(error="TransactionalIdAuthorizationFailedError")):
        assert health.consumer_state(idle) == ("idle", []), idle.activity
    assert health.verdict(pipeline(sinks=(sink(committed_s_ago=3600),))).code == health.EXIT_HEALTHY


def test_records_arrived_within_the_bound_wait_without_a_verdict() -> None:
    assert health.consumer_state(sink(waiting=3, committed_s_ago=3600, oldest_s_ago=5)) == ("waiting", [])


def test_a_sink_stopped_or_stalled_with_records_waiting_past_the_bound_is_not_running() -> None:
    state, problems = health.consumer_state(sink(waiting=6, committed_s_ago=1800, oldest_s_ago=600))
    assert state == "not running"
    assert problems == ["sink ledger not running (6 record(s) waiting, the oldest for 10 min; last commit 30 min ago; "
                        "a running sink commits every 30 s at least while records wait): start `isthmus sink --target "
                        "ledger`; if one runs, read its log (its commits to Kafka fail)"]
    restarted = health.consumer_state(sink(waiting=1200, about=True, oldest_s_ago=7200 * 3))[1]
    assert restarted[0].startswith("sink ledger not running (about 1200 record(s) waiting, the oldest for 6 h; no "
                                   "commit since its worker started; ")
    unknown = health.consumer_state(sink(waiting=2, oldest_s_ago=300, error="TransactionalIdAuthorizationFailedError"))
    assert "no commit known (its transactions could not be described: TransactionalIdAuthorizationFailedError)" \
        in unknown[1][0]
    result = health.verdict(pipeline(sinks=(sink(waiting=6, committed_s_ago=1800, oldest_s_ago=600),)))
    assert result.code == health.EXIT_UNHEALTHY and "sink ledger not running" in result.line


def note(*, advanced_s_ago: float | None, breaker: str = "open", failing: str | None = None) -> SinkNote:
    return SinkNote(breaker=breaker, at_ms=NOW_MS - 5000, failing=failing,
                    advanced_ms=None if advanced_s_ago is None else NOW_MS - int(advanced_s_ago * 1000))


def test_a_sink_beating_while_its_target_fails_is_stalled_and_not_to_be_started_again() -> None:
    down = note(advanced_s_ago=600, failing="could not connect (MariaDB down or restarting?)")
    stalled = sink(waiting=1919, about=True, committed_s_ago=10, oldest_s_ago=480, note=down)
    state, problems = health.consumer_state(stalled)
    assert state == "stalled"
    assert problems == ["sink ledger runs but applies nothing (about 1919 record(s) waiting, the oldest for 8 min; "
                        "last applied 10 min ago; breaker open; its oldest retrying command fails with: could not "
                        "connect (MariaDB down or restarting?)): its target is failing and the sink retries on its "
                        "own; read its log, and isthmus_sink_breaker_state on its /metrics; do not start a second "
                        "sink"]
    given = pipeline(sinks=(stalled,))
    text = health.render(given, health.verdict(given))
    assert "  ledger  stalled" in text
    assert "    last applied 10 min ago; breaker open; its oldest retrying command fails with: could not connect " \
        "(MariaDB down or restarting?)" in text
    assert health.document(given, health.verdict(given))["sinks"][0]["activity"]["note"]["breaker"] == "open"


def test_a_sink_draining_a_backlog_or_with_fresh_records_runs() -> None:
    for running in (sink(waiting=1900, committed_s_ago=1, oldest_s_ago=900, note=note(advanced_s_ago=1)),
                    sink(waiting=3, committed_s_ago=10, oldest_s_ago=30, note=note(advanced_s_ago=None)),
                    sink(committed_s_ago=10, note=note(advanced_s_ago=None))):
        assert health.consumer_state(running) == ("running", []), running.activity


def test_the_json_document_carries_a_sinks_activity_and_approximate_lag() -> None:
    given = pipeline(sinks=(sink(waiting=1200, about=True, committed_s_ago=4, oldest_s_ago=9),))
    [ledger] = json.loads(json.dumps(health.document(given, health.verdict(given))))["sinks"]
    assert ledger["state"] == "running"
    assert ledger["activity"] == {"last_commit_ms": NOW_MS - 4000, "last_commit_s_ago": 4.0,
                                  "oldest_waiting_ms": NOW_MS - 9000, "stall_after_s": 120, "error": None,
                                      "note": None}
    assert ledger["groups"][0]["lag"] == {"isthmus.commands.ledger": 1200}
    assert ledger["groups"][0]["lag_about"] == ["isthmus.commands.ledger"]
    assert "      lag  isthmus.commands.ledger about 1200" in health.render(given, health.verdict(given))


def test_each_sink_names_only_its_own_transactional_ids_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """One sink's transactional id refused DESCRIBE: that sink's line says so, the other's last commit is read (before,
    the ids were described together and the first error went on every sink's line)."""
    from kafka.errors import TransactionalIdAuthorizationFailedError

    from streams.cli import pipeline as status
    from streams.config.kafka import KafkaSettings

    def described(kafka: object, ids: list[str]) -> dict[str, int | None]:
        if "isthmus-sink-ledger" in ids:
            raise TransactionalIdAuthorizationFailedError("DescribeTransactionsRequest failed for transactional id "
                                                          "'isthmus-sink-ledger'.")
        return dict.fromkeys(ids, 1_000)

    monkeypatch.setattr(status.admin, "transactions_started", described)
    started, errors = status._transactions_started(KafkaSettings.plain("127.0.0.1:9"),
                                                   ["isthmus-sink-depot", "isthmus-sink-ledger"])
    assert started == {"isthmus-sink-depot": 1_000}
    assert list(errors) == ["isthmus-sink-ledger"]
    # the principal refused and the ACL to grant (a trial's read-only operator saw only kafka-python's error text)
    assert errors["isthmus-sink-ledger"].startswith(
        "Kafka refuses the principal User:ANONYMOUS to describe the transactional id isthmus-sink-ledger "
        "(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)")
    assert ("kafka-acls --bootstrap-server … --add --allow-principal User:ANONYMOUS --operation Describe "
            "--transactional-id isthmus-sink-ledger") in errors["isthmus-sink-ledger"]


def test_a_flow_or_sink_that_runs_with_records_waiting_past_the_bound_is_behind_with_exit_3() -> None:
    """A new user's ERP was 25 minutes behind its CRM, 63,910 commands waiting, and status said healthy."""
    late = sink(waiting=63910, about=True, committed_s_ago=1, oldest_s_ago=1500)
    assert health.consumer_state(late) == ("running", [])
    flowing = health.Consumer(kind="flow", name="isthmus-parcels", base="isthmus-parcels",
                              groups=(group("isthmus-parcels", WORKER),),
                              lag={"isthmus-parcels": {"shop.shop.parcels": 400}},
                              oldest_waiting_ms=NOW_MS - 600_000, checked_ms=NOW_MS)
    given = pipeline(sinks=(late,), flows=(flowing,))
    result = health.verdict(given)
    assert result.code == health.EXIT_HELD and not result.problems
    assert result.behind == ("flow isthmus-parcels is 10 min behind (its oldest record waiting was written 10 min ago; "
                             "400 record(s) waiting)",
                             "sink ledger is 25 min behind (its oldest record waiting was written 25 min ago; about "
                             "63910 record(s) waiting)")
    assert result.line.startswith("running, but flow isthmus-parcels is 10 min behind")
    assert "  ledger  running, 25 min behind" in health.render(given, result)
    assert health.document(given, result)["behind"] == list(result.behind)
    # within the bound, or not running (a problem of its own): not behind
    assert health.verdict(pipeline(sinks=(sink(waiting=6, committed_s_ago=1, oldest_s_ago=200),))).behind == ()
    stopped = health.verdict(pipeline(sinks=(sink(waiting=6, committed_s_ago=1800, oldest_s_ago=1500),)))
    assert stopped.behind == () and stopped.code == health.EXIT_UNHEALTHY


def test_the_replication_slots_are_shown_with_the_wal_they_keep_when_connect_is_down() -> None:
    """A trial stopped Kafka Connect; its slot kept 73 MB of WAL and status said nothing of it."""
    idle = Slot(system="shop", connector="shop-source", name="isthmus_shop", exists=True, active=False,
                retained_bytes=76_546_048, wal_status="reserved", keep_size="-1")
    read = Slot(system="crm", connector="crm-source", name="isthmus_crm", exists=True, active=True,
                retained_bytes=160, wal_status="reserved", keep_size="10GB")
    given = pipeline(connectors=(), connect_error="unreachable", slots=(idle, read),
                     slot_errors=("slot of hr-source (hr): cannot read replication slot isthmus_hr ...",))
    text = health.render(given, health.verdict(given))
    at = text.index("replication slots (PostgreSQL)")
    assert text[at + 1] == ("  slot isthmus_shop (shop-source): INACTIVE, keeps 73 MB of WAL (wal_status reserved; "
                            "no bound: max_slot_wal_keep_size is -1, so it can fill the disk); nothing reads it, so "
                            "it keeps every change made since: start shop-source (Kafka Connect and its task), or "
                            "drop the slot if the connector is gone for good")
    assert text[at + 2] == ("  slot isthmus_crm (crm-source): active, keeps 160 bytes of WAL (wal_status reserved; "
                            "max_slot_wal_keep_size 10GB)")
    assert text[at + 3].startswith("  slot of hr-source (hr): cannot read")
    document = health.document(given, health.verdict(given))
    assert document["replication_slots"][0] == {
        "system": "shop", "connector": "shop-source", "slot": "isthmus_shop", "exists": True, "active": False,
        "retained_wal_bytes": 76_546_048, "wal_status": "reserved", "max_slot_wal_keep_size": "-1"}
    assert len(document["replication_slot_errors"]) == 1
    json.dumps(document)
