"""Debezium's incremental-snapshot notifications: reading them, and what `isthmus connectors snapshot` decides from
them (exit 0, 1 naming the table, status and fix, or 2 at the timeout), without Kafka or Connect."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from streams.capture import follow as following
from streams.capture.client import ConnectorState, TaskState
from streams.capture.exceptions import ConnectorNotFound, ConnectUnreachable, NotificationError
from streams.capture.notifications import (
    Notification,
    SnapshotFollower,
    notification_topic,
    parse,
    trace_summary,
)
from streams.inspect.decoding import RawRecord
from streams.inspect.exceptions import UnknownTopic

SIGNAL = "isthmus-0001"
TABLES = ("crm.products", "crm.loose")


def value(kind: str, data: dict[str, str] | None = None, *, id: str = SIGNAL, timestamp: int = 1000,
          aggregate: str = "Incremental Snapshot") -> bytes:
    """A notification's value as Debezium's sink channel writes it through JsonConverter (schemas on)."""
    payload = {"id": id, "aggregate_type": aggregate, "type": kind,
               "additional_data": {"connector_name": "crm", **(data or {})}, "timestamp": timestamp}
    schema = {"type": "struct", "name": "io.debezium.connector.common.Notification", "fields": [
        {"field": "id", "type": "string"}, {"field": "aggregate_type", "type": "string"},
        {"field": "type", "type": "string"},
        {"field": "additional_data", "type": "map", "keys": {"type": "string"}, "values": {"type": "string"}},
        {"field": "timestamp", "type": "int64"}]}
    return json.dumps({"schema": schema, "payload": payload}).encode()


def scanned(table: str, status: str, rows: int) -> bytes:
    return value("TABLE_SCAN_COMPLETED", {"data_collections": ",".join(TABLES), "scanned_collection": table,
                                          "total_rows_scanned": str(rows), "status": status})


def progress(table: str, last: str, maximum: str, timestamp: int) -> bytes:
    return value("IN_PROGRESS", {"data_collections": ",".join(TABLES), "current_collection_in_progress": table,
                                 "maximum_key": maximum, "last_processed_key": last}, timestamp=timestamp)


def fed(follower: SnapshotFollower, *values: bytes) -> list[str]:
    lines: list[str] = []
    for raw in values:
        notification = parse(raw)
        assert notification is not None
        lines += follower.feed(notification)
    return lines


def follower() -> SnapshotFollower:
    return SnapshotFollower(SIGNAL, TABLES, connector="crm-source")


def test_a_notification_is_read_with_and_without_connects_schema() -> None:
    with_schema = parse(scanned("crm.products", "SUCCEEDED", 7))
    assert with_schema == Notification(id=SIGNAL, aggregate_type="Incremental Snapshot", type="TABLE_SCAN_COMPLETED",
                                       data={"connector_name": "crm", "data_collections": "crm.products,crm.loose",
                                             "scanned_collection": "crm.products", "total_rows_scanned": "7",
                                             "status": "SUCCEEDED"}, timestamp_ms=1000)
    plain = json.dumps(json.loads(scanned("crm.products", "SUCCEEDED", 7))["payload"]).encode()
    assert parse(plain) == with_schema
    assert parse(None) is None  # a tombstone
    for broken in (b"not json", b'{"payload": 1, "schema": null}', b'{"id": 1, "type": "STARTED"}'):
        with pytest.raises(NotificationError):
            parse(broken)


@pytest.mark.parametrize(("config", "topic"), [
    ({"notification.enabled.channels": "sink", "notification.sink.topic.name": "crm.notifications"},
     "crm.notifications"),
    ({"notification.enabled.channels": "log, sink", "notification.sink.topic.name": "crm.notifications"},
     "crm.notifications"),
    ({"notification.enabled.channels": "log,jmx", "notification.sink.topic.name": "crm.notifications"}, None),
    ({"notification.enabled.channels": "sink"}, None),
    ({}, None),
])
def test_the_notification_topic_is_the_sink_channels(config: dict[str, str], topic: str | None) -> None:
    assert notification_topic(config) == topic


def test_a_snapshot_that_completes_every_table_exits_0_with_their_counts() -> None:
    watch = follower()
    lines = fed(watch,
                value("STARTED", {"data_collections": "crm.products,crm.loose"}),
                progress("crm.products", "SKU-1024", "SKU-9000", 1000),
                progress("crm.products", "SKU-2048", "SKU-9000", 2000),  # within 5 s of the last line: not shown
                progress("crm.products", "SKU-3072", "SKU-9000", 7000),
                scanned("crm.products", "SUCCEEDED", 3100),
                scanned("crm.loose", "EMPTY", 0))
    assert watch.outcome is None  # a table's end is not the snapshot's
    assert lines == ["started: crm.products,crm.loose",
                     "crm.products: reading, at key SKU-1024 of SKU-9000",
                     "crm.products: reading, at key SKU-3072 of SKU-9000",
                     "crm.products: 3100 row(s) read, SUCCEEDED",
                     "crm.loose: 0 row(s) read, EMPTY"]
    assert fed(watch, value("COMPLETED")) == []
    assert watch.outcome is not None
    assert watch.outcome.to_json() == {"outcome": "completed", "problem": None, "fix": None, "scanned": [
        {"table": "crm.products", "status": "SUCCEEDED", "rows": 3100},
        {"table": "crm.loose", "status": "EMPTY", "rows": 0}]}
    assert watch.outcome.exit_code == 0


def test_a_table_without_a_primary_key_exits_1_naming_it_the_status_and_the_surrogate_key() -> None:
    watch = follower()
    fed(watch, scanned("crm.products", "SUCCEEDED", 7), scanned("crm.loose", "NO_PRIMARY_KEY", 0), value("COMPLETED"))
    outcome = watch.outcome
    assert outcome is not None and (outcome.state, outcome.exit_code) == ("failed", 1)
    assert outcome.problem == "crm.loose: NO_PRIMARY_KEY"
    assert outcome.remedy is not None and "crm.loose has neither" in outcome.remedy
    assert "`isthmus connectors snapshot crm-source --tables crm.loose --surrogate-key <column>`" in outcome.remedy


@pytest.mark.parametrize(("status", "said"), [
    ("SQL_EXCEPTION", "`SQL error while executing incremental snapshot for table 'crm.loose'` (that line only says"),
    # a new user's capture user could not INSERT the watermarks; the hint named only a generated column and a
    # surrogate key, and the log line naming the table said nothing of the refused grant three lines above it
    ("SQL_EXCEPTION", "most often the connector's user may not write its signal table (MariaDB's `INSERT command"),
    ("UNKNOWN_SCHEMA", "crm-source does not know crm.loose's columns"),
    ("SKIPPED", "Debezium skipped crm.loose"),
])
def test_every_failed_status_exits_1_with_its_own_fix(status: str, said: str) -> None:
    watch = follower()
    fed(watch, scanned("crm.products", "SUCCEEDED", 7), scanned("crm.loose", status, 0), value("COMPLETED"))
    assert watch.outcome is not None and watch.outcome.exit_code == 1
    assert watch.outcome.problem == f"crm.loose: {status}"
    assert watch.outcome.remedy is not None and said in watch.outcome.remedy
    assert watch.outcome.remedy.endswith("`isthmus connectors snapshot crm-source --tables crm.loose`")


def test_a_table_debezium_never_reported_fails_the_snapshot() -> None:
    watch = follower()
    fed(watch, scanned("crm.products", "SUCCEEDED", 7), value("COMPLETED"))
    assert watch.outcome is not None and watch.outcome.exit_code == 1
    assert watch.outcome.problem == "crm.loose: not reported (Debezium sent no scan of it under this signal)"


def test_an_aborted_snapshot_exits_1() -> None:
    watch = follower()
    lines = fed(watch, scanned("crm.products", "SUCCEEDED", 7), value("ABORTED", {"data_collections": "crm.loose"}))
    assert lines[-1] == "aborted: crm.loose"
    assert watch.outcome is not None and (watch.outcome.state, watch.outcome.exit_code) == ("aborted", 1)
    assert watch.outcome.remedy == ("run it again: "
                                    "`isthmus connectors snapshot crm-source --tables crm.products,crm.loose`")


def test_other_signals_and_the_initial_snapshot_are_ignored_and_names_match_with_a_database_first() -> None:
    watch = follower()
    assert fed(watch, value("STARTED", id="someone-else"), value("COMPLETED", id="someone-else"),
               value("COMPLETED", aggregate="Initial Snapshot")) == []
    assert watch.outcome is None
    fed(watch, value("PAUSED"), value("RESUMED"),
        scanned("crm.crm.products", "SUCCEEDED", 7), scanned("crm.previous", "SUCCEEDED", 2),  # an earlier request's
        scanned("crm.loose", "EMPTY", 0), value("COMPLETED"))
    assert watch.outcome is not None and watch.outcome.exit_code == 0
    assert [s.table for s in watch.outcome.scans] == ["crm.products", "crm.loose"]


def test_a_trace_is_summed_up_by_its_first_line_and_root_cause() -> None:
    trace = ("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
             "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
             "Caused by: io.debezium.DebeziumException: wrapped\n\tat x\n"
             "Caused by: java.lang.IllegalArgumentException: YEAR 0000\n\tat y\n")
    assert trace_summary(trace) == (
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. ... "
        "Caused by: java.lang.IllegalArgumentException: YEAR 0000")
    assert trace_summary("java.lang.RuntimeException: boom\n") == "java.lang.RuntimeException: boom"
    assert trace_summary("") == "(no trace)"


# -- following: the reading and the polling, with a fake topic, Connect and clock -------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeConnect:
    def __init__(self, states: Sequence[ConnectorState | Exception]) -> None:
        self.states, self.asked = list(states), 0

    def status(self, name: str) -> ConnectorState:
        state = self.states[min(self.asked, len(self.states) - 1)]
        self.asked += 1
        if isinstance(state, Exception):
            raise state
        return state


def state(task: str, trace: str | None = None) -> ConnectorState:
    return ConnectorState(name="crm-source", type="source", state="RUNNING", worker_id="w",
                          tasks=(TaskState(id=0, state=task, worker_id="w", trace=trace),))


def fake_read(batches: Sequence[Sequence[bytes]], clock: Clock, *, missing_first: int = 0) -> Callable[..., Any]:
    """A stand-in for the reader's ``read``: ``batches`` one poll each (a second apart), then empty polls; the
    topic unknown for the first ``missing_first`` calls."""
    calls = {"n": 0}

    def read(kafka: Any, topics: Sequence[str], start: Any, *, follow: bool, stop: Callable[[], bool]) -> Iterator[
            RawRecord]:
        calls["n"] += 1
        if calls["n"] <= missing_first:
            raise UnknownTopic("no topic")
        assert follow and start.at == {("crm.notifications", 0): 12}
        pending = list(batches)
        offset = 12
        while not stop():
            clock.now += 1
            for data in pending.pop(0) if pending else ():
                yield RawRecord(topic=topics[0], partition=0, offset=offset, timestamp_ms=None, key=None, value=data)
                offset += 1

    return read


def run(monkeypatch: pytest.MonkeyPatch, batches: Sequence[Sequence[bytes]], connect: FakeConnect, *,
        timeout: float = 60, missing_first: int = 0) -> tuple[Any, list[str]]:
    clock, said = Clock(), []
    monkeypatch.setattr(following.reader, "read", fake_read(batches, clock, missing_first=missing_first))
    monkeypatch.setattr(following.time, "sleep", lambda s: setattr(clock, "now", clock.now + s))
    outcome = following.follow("kafka:9092", connect, follower(),  # type: ignore[arg-type]
                               topic="crm.notifications", since={("crm.notifications", 0): 12}, timeout=timeout,
                               say=said.append, clock=clock)
    return outcome, said


def test_following_ends_at_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, said = run(monkeypatch, [[value("STARTED", {"data_collections": "crm.products,crm.loose"}), b"junk"],
                                      [scanned("crm.products", "SUCCEEDED", 7), scanned("crm.loose", "EMPTY", 0)],
                                      [value("COMPLETED")]], FakeConnect([state("RUNNING")]), missing_first=2)
    assert outcome.exit_code == 0
    assert said[0] == "started: crm.products,crm.loose"
    assert said[1].startswith("note: crm.notifications partition 0 offset 13 skipped: a notification is JSON")


def test_a_task_that_fails_meanwhile_ends_following_with_its_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: boom\n\tat x\nCaused by: java.sql.SQLException: gone\n"
    connect = FakeConnect([ConnectUnreachable("no answer"), state("RUNNING"), state("FAILED", trace)])
    outcome, said = run(monkeypatch, [[value("STARTED")]], connect)
    assert (outcome.state, outcome.exit_code) == ("task-failed", 1)
    assert outcome.problem == ("crm-source task 0 FAILED: org.apache.kafka.connect.errors.ConnectException: boom ... "
                               "Caused by: java.sql.SQLException: gone")
    assert "`isthmus connectors restart crm-source --failed-only`" in outcome.remedy
    assert said[0].startswith("note: the connector's status could not be read (no answer)")


def test_a_task_that_lost_its_position_meanwhile_is_told_to_reset_not_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart starts from the same lost position and fails again: a trial's DBA dropped the replication slot."""
    trace = ("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
             "Caused by: io.debezium.DebeziumException: The offset to start reading from '[lsn=0/1A2B]' is no longer "
             "available on the server. Reconfigure the connector to use a snapshot mode\n"
             "\tat io.debezium.connector.postgresql.PostgresConnectorTask.start\n")
    connect = FakeConnect([state("RUNNING"), state("FAILED", trace)])
    outcome, _ = run(monkeypatch, [[value("STARTED")]], connect)
    assert (outcome.state, outcome.exit_code) == ("task-failed", 1)
    assert "--failed-only" not in outcome.remedy
    assert "`isthmus connectors offsets crm-source --reset`" in outcome.remedy
    assert "Lost position: a dropped replication slot" in outcome.remedy


def test_a_connector_unlisted_by_a_restarting_connect_is_followed_to_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user killed Kafka Connect mid-snapshot and started it again: for a few seconds it answered 404 for the
    connector (its config topic not read yet), and the command exited 1 saying the connector was deleted, while the
    snapshot went on from its offsets and completed. A connector unlisted a while is followed on."""
    missing = ConnectorNotFound("Kafka Connect has no connector 'crm-source'")
    connect = FakeConnect([state("RUNNING"), ConnectUnreachable("refused"), missing, missing, missing,
                           state("RUNNING")])
    scans = [scanned("crm.products", "SUCCEEDED", 7), scanned("crm.loose", "EMPTY", 0)]
    batches = [[value("STARTED", {"data_collections": "crm.products"})], *([[]] * 8), scans, [value("COMPLETED")]]
    outcome, said = run(monkeypatch, batches, connect)
    assert outcome.exit_code == 0
    assert any(line.startswith("note: Kafka Connect does not list crm-source (restarting?") for line in said)
    assert "note: Kafka Connect lists crm-source again (RUNNING); following on" in said


def test_a_connector_unlisted_for_a_minute_was_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    connect = FakeConnect([state("RUNNING"), ConnectorNotFound("Kafka Connect has no connector 'crm-source'")])
    outcome, _ = run(monkeypatch, [[value("STARTED")]], connect, timeout=600)
    assert (outcome.state, outcome.exit_code) == ("task-failed", 1)
    assert "crm-source was deleted from Kafka Connect while the snapshot ran (not listed for 6" in outcome.problem


def test_following_gives_up_at_the_timeout_saying_how_to_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, _ = run(monkeypatch, [[value("STARTED")]], FakeConnect([state("RUNNING")]), timeout=30)
    assert (outcome.state, outcome.exit_code) == ("timeout", 2)
    assert outcome.problem == "no end of the snapshot within 30s; it may still be running"
    assert outcome.remedy.startswith(f"follow it with `isthmus topics tail crm.notifications --follow --key {SIGNAL}`")


# -- the command: which snapshots it follows, and what it prints --------------------------------------------------

CONFIG = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "topic.prefix": "crm",
          "signal.data.collection": "crm.debezium_signal", "table.include.list": "crm.products,crm.debezium_signal"}


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`isthmus connectors snapshot` against a fake Connect and signal table; what it asked is recorded."""
    from streams.capture import signals
    from streams.capture.client import ConnectClient
    from streams.cli import connectors

    seen: dict[str, Any] = {"config": dict(CONFIG)}
    monkeypatch.setattr(ConnectClient, "get_config", lambda self, name: seen["config"])
    monkeypatch.setattr(ConnectClient, "status", lambda self, name: state("RUNNING"))

    def request(name: str, config: Any, tables: Any, root: Any, *,
                surrogate_key: str | None = None) -> signals.SnapshotRequest:
        seen["order"] = [*seen.get("order", []), "signal"]
        return signals.SnapshotRequest(id=SIGNAL, connector=name, signal_table="crm.debezium_signal",
                                       data_collections=("crm.products",), surrogate_key=surrogate_key)

    def positions(kafka: Any, topic: str) -> dict[tuple[str, int], int]:
        seen["order"] = [*seen.get("order", []), "positions"]
        return {(topic, 0): 12}

    def follow(kafka: Any, client: Any, watch: SnapshotFollower, **kwargs: Any) -> Any:
        seen["followed"] = kwargs
        fed(watch, scanned("crm.products", "NO_PRIMARY_KEY", 0), value("COMPLETED"))
        return watch.outcome

    monkeypatch.setattr(connectors.signals, "request_incremental_snapshot", request)
    monkeypatch.setattr(connectors.follow, "positions_before", positions)
    monkeypatch.setattr(connectors.follow, "follow", follow)
    return seen


def test_the_command_takes_the_topics_end_before_the_signal_and_exits_with_the_verdict(
        command: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from streams.cli.main import main

    command["config"].update({"notification.enabled.channels": "sink",
                              "notification.sink.topic.name": "crm.notifications"})
    assert main(["connectors", "snapshot", "crm-source", "--tables", "products", "--timeout", "60",
                 "--surrogate-key", "sku", "--json"]) == 1
    assert command["order"] == ["positions", "signal"]
    assert command["followed"]["since"] == {("crm.notifications", 0): 12} and command["followed"]["timeout"] == 60
    document = json.loads(capsys.readouterr().out)
    assert (document["outcome"], document["problem"], document["surrogate_key"]) == (
        "failed", "crm.products: NO_PRIMARY_KEY", "sku")
    assert document["scanned"] == [{"table": "crm.products", "status": "NO_PRIMARY_KEY", "rows": 0}]

    assert main(["connectors", "snapshot", "crm-source", "--tables", "products"]) == 1
    out, err = capsys.readouterr()
    assert "following it on crm.notifications" in out
    assert err.startswith("crm-source: incremental snapshot failed: crm.products: NO_PRIMARY_KEY\n")

    command.pop("followed")
    assert main(["connectors", "snapshot", "crm-source", "--tables", "products", "--no-wait", "--json"]) == 0
    assert "followed" not in command and json.loads(capsys.readouterr().out)["outcome"] == "requested"


def test_a_connector_without_the_sink_channel_is_not_followed_and_the_fix_is_said(
        command: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from streams.cli.main import main

    assert main(["connectors", "snapshot", "crm-source", "--tables", "products", "--json"]) == 0
    assert command["order"] == ["signal"] and "followed" not in command
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert (document["outcome"], document["notifications"]) == ("requested", None)
    assert document["note"].startswith("crm-source has no sink notification channel, so the snapshot is not followed")
    assert ("fix: set `notification.enabled.channels: sink` and `notification.sink.topic.name: crm.notifications` "
            "in ") in document["note"]
    assert err.startswith("note: crm-source has no sink notification channel")
