"""What `isthmus status` (and the dashboard, through the same judgement) says of a source connector that cannot
capture: one whose task FAILED because its source position is gone from the database (a replication slot dropped,
binlogs purged), which a restart cannot mend; and one whose task is RUNNING while it reads nothing (MariaDB's binlog
client refused its rotated password and retrying every minute), whose heartbeats stopped (streams/inspect/health.py,
streams/capture/failures.py, streams/dashboard/sources.py)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.capture.client import ConnectorState, TaskState
from streams.capture.deploy import failure_message
from streams.dashboard import sources
from streams.inspect import admin, health
from streams.inspect.admin import PartitionInfo, TopicInfo
from streams.inspect.decoding import RawRecord

pytestmark = pytest.mark.unit

#: A PostgreSQL task after a DBA dropped its slot (a trial's Connect log, its offset context shortened): Debezium
#: creates the slot again as the task starts, then finds its offsets' LSN gone. The useful part is at the end.
SLOT_DROPPED = (
    "io.debezium.DebeziumException: The connector is trying to read change stream starting at PostgresOffsetContext "
    "[sourceInfoSchema=Schema{io.debezium.connector.postgresql.Source:STRUCT}, sourceInfo=source_info[server='ledger'"
    "db='ledgerdb', lsn=LSN{0/28D3C08}, txId=5052, messageType=COMMIT, lastCommitLsn=LSN{0/28D3C08}, "
    "timestamp=2026-12-07T15:33:55.574037Z, snapshot=FALSE, schema=, table=], lastSnapshotRecord=false, "
    "transactionContext=TransactionContext [currentTransactionId=5052, perTableEventCount={ledger.entry=1}, "
    "totalEventCount=1]], but this is no longer available on the server. Reconfigure the connector to use a snapshot "
    "mode when needed.\n"
    "\tat io.debezium.connector.common.BaseSourceTask.validateSchemaHistory(BaseSourceTask.java:164)\n"
    "\tat io.debezium.connector.postgresql.PostgresConnectorTask.start(PostgresConnectorTask.java:181)\n")
#: A MariaDB task whose GTID position was purged from the binlogs (the same trial's).
BINLOGS_PURGED = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This "
    "connector will be stopped.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: io.debezium.DebeziumException: Could not find GTID state requested by slave in any binlog files. "
    "Probably the slave state is too old and required binlog files have been purged. Error code: 1236; "
    "SQLSTATE: HY000.\n"
    "\tat io.debezium.connector.binlog.BinlogStreamingChangeEventSource.wrap(BinlogStreamingChangeEventSource.java)\n"
    "Caused by: com.github.shyiko.mysql.binlog.network.ServerException: Could not find GTID state requested by slave "
    "in any binlog files. Probably the slave state is too old and required binlog files have been purged.\n")

#: A MariaDB task after a table created earlier was added to its table.include.list (a trial's, Debezium 3.5's
#: MariaDB connector with schema.history.internal.store.only.captured.tables.ddl: true).
SCHEMA_UNKNOWN = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This "
    "connector will be stopped.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: io.debezium.DebeziumException: Error processing binlog event\n"
    "\t... 8 more\n"
    "Caused by: io.debezium.DebeziumException: Encountered change event for table erp.loyalty whose schema isn't "
    "known to this connector\n"
    "\tat io.debezium.connector.binlog.BinlogStreamingChangeEventSource.informAboutUnknownTableIfRequired("
    "BinlogStreamingChangeEventSource.java:1049)\n")


def connector(name: str, *tasks: tuple[str, str | None]) -> ConnectorState:
    return ConnectorState(name=name, type="source", state="RUNNING", worker_id="connect:8083",
                          tasks=tuple(TaskState(id=i, state=s, worker_id="connect:8083", trace=t)
                                      for i, (s, t) in enumerate(tasks or (("RUNNING", None),))))


def pipeline(*states: ConnectorState, captures: dict[str, health.Capture] | None = None) -> health.Pipeline:
    return health.Pipeline(kafka="kafka-0:9093", connect="http://connect:8083", connectors=states,
                           captures=captures or {}, dead_letters=health.Counted(topic="isthmus.dlq", count=0),
                           holds=health.Counted(topic="isthmus.holds", count=0))


def test_a_dropped_slot_is_named_with_its_recovery_not_a_restart() -> None:
    """A trial's status cut Debezium's message inside its offset context, before "no longer available on the server",
    and the only fix it knew, `isthmus connectors restart --failed-only`, fails the same way."""
    given = pipeline(connector("ledger-source", ("FAILED", SLOT_DROPPED)))
    result = health.verdict(given)
    text = "\n".join(health.render(given, result))
    assert ("    task 0 FAILED: io.debezium.DebeziumException: The connector is trying to read change stream starting "
            "at PostgresOffsetContext […], but this is no longer available on the server. Reconfigure the connector "
            "to use a snapshot mode when needed.") in text
    [problem] = result.problems
    assert problem.startswith("connector ledger-source (connector RUNNING, tasks: 1 of 1 FAILED (task 0)): its "
                              "replication slot was dropped")
    for said in ("`isthmus connectors offsets ledger-source --reset`", "snapshots every captured table again",
                 "creates its replication slot again", "the rows' current state",
                 '"Lost position: a dropped replication slot"'):
        assert said in problem and said in text, said
    assert "--failed-only" not in text
    fix = failure_message(given.connectors[0]).splitlines()[-1]
    assert fix.startswith("fix: its replication slot was dropped") and "offsets ledger-source --reset" in fix
    [failure] = health.document(given, result)["connect"]["connectors"][0]["failures"]
    assert failure["lost_position"]["engine"] == "postgres"


def test_purged_binlogs_are_named_with_their_recovery() -> None:
    given = pipeline(connector("ledger-source"), connector("till-source", ("FAILED", BINLOGS_PURGED)))
    result = health.verdict(given)
    text = "\n".join(health.render(given, result))
    assert ("    task 0 FAILED: io.debezium.DebeziumException: Could not find GTID state requested by slave in any "
            "binlog files. Probably the slave state is too old and required binlog files have been purged. Error "
            "code: 1236; SQLSTATE: HY000.") in text
    [problem] = result.problems
    assert "till-source" in problem and "the binlogs it was reading were purged" in problem
    assert "`isthmus connectors offsets till-source --reset`" in problem
    assert '"Lost position: purged binlogs"' in problem
    assert "replication slot" not in problem


def test_another_failure_keeps_its_root_cause_and_the_generic_fix() -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: boom\nCaused by: java.net.ConnectException: refused\n"
    given = pipeline(connector("ledger-source", ("FAILED", trace)))
    assert health.verdict(given).problems == ("connector ledger-source (connector RUNNING, tasks: 1 of 1 FAILED "
                                              "(task 0))",)
    assert "    task 0 FAILED: java.net.ConnectException: refused" in health.render(given, health.verdict(given))
    assert "--failed-only" in failure_message(given.connectors[0])


def capture(age_s: float | None, *, interval_s: float | None = 10.0) -> health.Capture:
    checked = 1_800_000_000_000
    return health.Capture(connector="till-source", topic="__debezium-heartbeat.till", interval_s=interval_s,
                          checked_ms=checked, last_ms=None if age_s is None else checked - int(age_s * 1000))


def test_a_running_connector_whose_heartbeats_stopped_is_capture_stalled() -> None:
    """A trial's rotated MariaDB password: the task stayed RUNNING (its binlog client retrying every 60 s), status
    and the dashboard said healthy while billing edits went uncaptured; its heartbeats (every 10 s) had stopped."""
    given = pipeline(connector("till-source"), captures={"till-source": capture(130)})
    result = health.verdict(given)
    [problem] = result.problems
    assert problem.startswith("connector till-source capture stalled: RUNNING, but its newest heartbeat or record in "
                              "__debezium-heartbeat.till is 2 min old (heartbeat every 10 s): read Kafka Connect's "
                              "log for it (likely the database is unreachable or refuses its credentials")
    assert result.code == health.EXIT_UNHEALTHY
    text = health.render(given, result)
    assert "  till-source  RUNNING  tasks 0:RUNNING" in text
    assert "    last heartbeat or record 2 min ago (every 10 s) STALLED" in text
    document = health.document(given, result)["connect"]["connectors"][0]["capture"]
    assert document["stalled"] is True and document["age_s"] == 130 and document["stalled_after_s"] == 90


@pytest.mark.parametrize("given", [
    capture(5), capture(55),  # an idle MariaDB connector heartbeats only as often as the server's binlog heartbeat
    capture(None),  # nothing read yet: no age to judge
    capture(600, interval_s=None)])  # no heartbeat configured: silence says nothing
def test_a_fresh_idle_or_unjudgeable_connector_is_healthy(given: health.Capture) -> None:
    result = health.verdict(pipeline(connector("till-source"), captures={"till-source": given}))
    assert result.problems == ()


def test_the_bound_is_a_few_intervals_when_they_are_long() -> None:
    assert capture(100, interval_s=60).stalled is False
    assert capture(181, interval_s=60).stalled is True


def test_a_failed_connector_is_judged_by_its_failure_not_its_silence() -> None:
    given = pipeline(connector("till-source", ("FAILED", BINLOGS_PURGED)), captures={"till-source": capture(900)})
    [problem] = health.verdict(given).problems
    assert "capture stalled" not in problem and "purged" in problem


def test_the_newest_heartbeat_or_change_record_is_read_from_recorded_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The heartbeat topic is ``<topic.heartbeat.prefix>.<topic.prefix>``; change records count too (a snapshot sends
    no heartbeat); another connector's topics and a prefix's longer namesake do not."""
    existing = {"beat.till", "till.till.entry", "till.transaction", "till2.till.entry", "__debezium-heartbeat.shop"}
    ends = {"beat.till": 40, "till.till.entry": 7, "till.transaction": 0, "till2.till.entry": 9}
    recorded = {("beat.till", 38): 1_000, ("till.till.entry", 6): 4_000, ("till2.till.entry", 8): 9_000}
    asked: list[dict[tuple[str, int], tuple[int, int]]] = []

    def topics(bootstrap: object, names: list[str], **_: Any) -> list[TopicInfo]:
        return [TopicInfo(name=n, internal=False, config={},
                          partitions=(PartitionInfo(partition=0, leader=1, replicas=(1,), isr=(1,), begin=0,
                                                    end=ends[n]),)) for n in names]

    def read_spans(bootstrap: object, spans: dict[tuple[str, int], tuple[int, int]]) -> list[RawRecord]:
        asked.append(spans)
        return [RawRecord(topic=t, partition=p, offset=o, timestamp_ms=ts, key=None, value=b"{}")
                for (t, o), ts in recorded.items() for (tt, p), (b, e) in spans.items() if tt == t and b <= o < e]

    monkeypatch.setattr(admin, "topic_names", lambda bootstrap: existing)
    monkeypatch.setattr(admin, "topics", topics)
    monkeypatch.setattr(sources, "read_spans", read_spans)
    found = sources.newest_records("kafka:9092", {
        "till-source": {"topic.prefix": "till", "topic.heartbeat.prefix": "beat", "heartbeat.interval.ms": "10000"},
        "quiet-source": {"topic.prefix": "quiet"}})
    till, quiet = found["till-source"], found["quiet-source"]
    assert (till.topic, till.interval_s, till.last_ms) == ("beat.till", 10.0, 4_000)
    assert asked == [{("beat.till", 0): (36, 40), ("till.till.entry", 0): (3, 7)}]
    assert (quiet.topic, quiet.interval_s, quiet.last_ms, quiet.stalled) == ("__debezium-heartbeat.quiet", None, None,
                                                                             False)


def test_a_heartbeat_topic_the_principal_may_not_see_is_said_and_not_judged_stalled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's staging principal, granted the change-topic prefixes only (as the README said then), could not see
    `__debezium-heartbeat.stgcrm`: status judged a healthy connector by its change records alone (3 min old, the
    database idle), said "capture stalled" and told to restart it."""
    existing = {"stgcrm.crm.customers"}

    def topics(bootstrap: object, names: list[str], **_: Any) -> list[TopicInfo]:
        return [TopicInfo(name=n, internal=False, config={}, partitions=(
            PartitionInfo(partition=0, leader=1, replicas=(1,), isr=(1,), begin=0, end=5),)) for n in names]

    def read_spans(bootstrap: object, spans: dict[tuple[str, int], tuple[int, int]]) -> list[RawRecord]:
        return [RawRecord(topic="stgcrm.crm.customers", partition=0, offset=4, timestamp_ms=1_000, key=None,
                          value=b"{}")]

    monkeypatch.setattr(admin, "topic_names", lambda bootstrap: existing)
    monkeypatch.setattr(admin, "topics", topics)
    monkeypatch.setattr(sources, "read_spans", read_spans)
    found = sources.newest_records("kafka:9092", {
        "crm-source-stg": {"topic.prefix": "stgcrm", "heartbeat.interval.ms": "10000"}})
    seen = found["crm-source-stg"]
    assert seen.stalled is False and seen.error is not None
    assert "__debezium-heartbeat.stgcrm is not among the topics this principal may describe" in seen.error
    assert "grant Describe and Read on the topic prefix __debezium-heartbeat." in seen.error
    assert health.verdict(pipeline(connector("crm-source-stg"), captures=found)).problems == ()


def test_a_table_added_without_its_schema_in_the_history_is_named_with_its_recovery() -> None:
    """A trial added a table to a running MariaDB capture as the README said; the task failed on its first row, and
    status, the deploy and the snapshot advised `restart --failed-only`, which fails the same way."""
    given = pipeline(connector("erp-source", ("FAILED", SCHEMA_UNKNOWN)))
    result = health.verdict(given)
    text = "\n".join(health.render(given, result))
    assert ("    task 0 FAILED: io.debezium.DebeziumException: Encountered change event for table erp.loyalty whose "
            "schema isn't known to this connector") in text
    [problem] = result.problems
    assert problem.startswith("connector erp-source (connector RUNNING, tasks: 1 of 1 FAILED (task 0)): a captured "
                              "table's schema is not in its schema history")
    for said in ("`isthmus connectors offsets erp-source --reset`", "records their schemas",
                 "`schema.history.internal.store.only.captured.tables.ddl: false`",
                 '"Adding a table to a MariaDB capture"'):
        assert said in problem and said in text, said
    assert "--failed-only" not in text
    assert failure_message(given.connectors[0]).splitlines()[-1].startswith(
        "fix: a captured table's schema is not in its schema history")
    [failure] = health.document(given, result)["connect"]["connectors"][0]["failures"]
    assert (failure["lost_position"]["engine"], failure["lost_position"]["kind"]) == ("mariadb", "schema")


#: The traces a new user's billing capture failed with (a trial): a NaN in a NOT NULL numeric, and a 1 MB TOASTed note.
NAN_IN_NOT_NULL = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This "
    "connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: org.apache.kafka.connect.errors.ConnectException: Error while processing event at offset "
    "{last_snapshot_record=false, lsn=91886584, txId=758, snapshot=INITIAL, snapshot_completed=false}\n"
    "Caused by: org.apache.kafka.connect.errors.DataException: Invalid value: null used for required field: "
    "\"amount\", schema type: BYTES\n\tat org.apache.kafka.connect.data.ConnectSchema.validateValue("
    "ConnectSchema.java:220)\n")
TOO_LARGE = (
    "org.apache.kafka.connect.errors.ConnectException: Unrecoverable exception trying to send\n\tat org.apache.kafka."
    "connect.runtime.ExactlyOnceWorkerSourceTask.maybeWrapProducerSendException(ExactlyOnceWorkerSourceTask.java:355)"
    "\nCaused by: org.apache.kafka.common.errors.RecordTooLargeException: The message is 1089270 bytes when "
    "serialized which is larger than 1048576, which is the value of the max.request.size configuration.\n")


def test_a_nan_in_a_not_null_numeric_is_named_with_its_fix() -> None:
    """Status said only `DataException: Invalid value: null used for required field: "amount"` and `fix: read the
    trace above, ... or retry with restart --failed-only`, which fails at the same row: nothing said NaN."""
    given = pipeline(connector("ledgerly-source", ("FAILED", NAN_IN_NOT_NULL)))
    result = health.verdict(given)
    text = "\n".join(health.render(given, result))
    [problem] = result.problems
    for said in ("the NOT NULL column amount of a captured table arrived as null", "a restart stops there again",
                 "NUMERIC holding 'NaN' or an infinity", "Failed to properly convert data value for "
                 "'<schema>.<table>.amount' of type numeric", "CHECK (amount NOT IN ('NaN', 'Infinity', '-Infinity'))",
                 "`isthmus connectors restart ledgerly-source --failed-only`"):
        assert said in problem and said in text, said
    message = failure_message(given.connectors[0])
    assert message.splitlines()[-1].startswith("cause: the NOT NULL column amount") and "read the trace" not in message


def test_a_record_too_large_names_the_producer_and_topic_limits() -> None:
    given = pipeline(connector("ledgerly-source", ("FAILED", TOO_LARGE)))
    [problem] = health.verdict(given).problems
    for said in ("a change record of 1089270 bytes", "producer.override.max.request.size", "max.message.bytes",
                 "`isthmus connectors deploy ledgerly-source`", '"Large rows"'):
        assert said in problem, said
    assert failure_message(given.connectors[0]).splitlines()[-1].startswith("cause: a change record of 1089270 bytes")


#: What a new user's MariaDB capture failed with, each seen on Debezium 3.5 against a company's server (a session's
#: minimal row images, the server's binlog settings, a capture user granted too little, and the empty offset a
#: failed first snapshot leaves): each got the generic "correct the connector's config ... or restart", which fails
#: again or points at a file that is right.
ROW_IMAGE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This "
    "connector will be stopped.\nCaused by: io.debezium.DebeziumException: Error processing binlog event\n\t... 8 more"
    "\nCaused by: io.debezium.DebeziumException: Error processing row in customers, internal schema size 11, but row "
    "size 1 , restart connector with schema recovery mode.\n\t... 7 more\n")
NO_POSITION = ("org.apache.kafka.connect.errors.ConnectException: Source offset 'file' parameter is missing\n\tat io."
               "debezium.connector.binlog.BinlogOffsetContext$Loader.load(BinlogOffsetContext.java:200)\n")
ROW_FORMAT = ("io.debezium.DebeziumException: The database server is not configured to use a ROW binlog_format, which "
              "is required for this connector to work properly. Change the database configuration to use a "
              "binlog_format=ROW and restart the connector.\n\tat io.debezium.connector.binlog.BinlogSourceTask.vali"
              "dateBinlogConfiguration(BinlogSourceTask.java:66)\n")
NO_RELOAD = ("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
             "Caused by: java.sql.SQLSyntaxErrorException: (conn=23) Access denied; you need (at least one of) the "
             "RELOAD privilege(s) for this operation\n")
NO_LOCK = ("io.debezium.DebeziumException: User does not have the 'LOCK TABLES' privilege required to obtain a "
           "consistent snapshot by preventing concurrent writes to tables.\n")


@pytest.mark.parametrize(("trace", "said", "unsaid"), [
    (ROW_IMAGE, ["a binlog row event of customers carries 1 column(s) where the table has 11",
                 "binlog_row_image` MINIMAL or NOBLOB", "a restart meets the same event and fails again",
                 "`isthmus connectors offsets till-source --reset`", '"A MariaDB or MySQL server of your own"'],
     "schema recovery mode"),
    (NO_POSITION, ["stored offsets hold no binlog position", "its first snapshot failed",
                   "`isthmus connectors offsets till-source --reset`"], "--failed-only"),
    (ROW_FORMAT, ["it wants binlog_format=ROW, a setting of the server, not of the connector's file",
                  "`SET GLOBAL binlog_format=ROW`", "`isthmus connectors restart till-source --failed-only`"],
     "connectors deploy"),
    (NO_RELOAD, ["refuses the connector's user the RELOAD privilege", "Source offset 'file' parameter is missing",
                 "`isthmus connectors offsets till-source --reset`"], "connectors deploy"),
    (NO_LOCK, ["refuses the connector's user the LOCK TABLES privilege"], "connectors deploy"),
])
def test_a_binlog_server_grant_or_offset_failure_is_named_with_its_fix(trace: str, said: list[str],
                                                                        unsaid: str) -> None:
    given = pipeline(connector("till-source", ("FAILED", trace)))
    [problem] = health.verdict(given).problems
    text = "\n".join(health.render(given, health.verdict(given)))
    message = failure_message(given.connectors[0])
    last = message.splitlines()[-1]
    assert last.startswith("cause: ") and "read the trace above" not in message
    for part in said:
        assert part in problem and part in text and part in last, part
    assert unsaid not in last
