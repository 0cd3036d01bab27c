"""Reading Connect's status documents, and the command line's shape."""

from __future__ import annotations

from streams.capture.client import ConnectorState
from streams.capture.deploy import failure_message, summary
from streams.cli.main import build_parser


def state(connector: str, *tasks: str) -> ConnectorState:
    return ConnectorState.from_json({
        "name": "crm-source", "type": "source",
        "connector": {"state": connector, "worker_id": "w:1"},
        "tasks": [{"id": i, "state": s, "worker_id": "w:1", "trace": "boom\n at X" if s == "FAILED" else None}
                  for i, s in reversed(list(enumerate(tasks)))],
    })


def test_running_needs_the_connector_and_every_task_and_at_least_one_task() -> None:
    assert state("RUNNING", "RUNNING", "RUNNING").running
    assert not state("RUNNING").running
    assert not state("RUNNING", "RUNNING", "UNASSIGNED").running
    assert not state("PAUSED", "PAUSED").running


def test_failures_carry_the_task_trace() -> None:
    failed = state("RUNNING", "RUNNING", "FAILED")
    assert failed.failures == [("task 1", "boom\n at X")]
    message = failure_message(failed)
    assert "crm-source: task 1 is FAILED: boom\nboom\n at X" in message
    assert "isthmus connectors restart crm-source --failed-only" in message
    assert summary(failed) == "connector RUNNING, tasks: 1 of 2 RUNNING, 1 FAILED (task 1)"


def test_a_failure_leads_with_its_root_cause() -> None:
    """`connectors status` printed Connect's task trace, whose first line is Debezium's generic wrapper: the cause
    (which group the task may not read) came last, after the stack frames."""
    failed = ConnectorState.from_json({
        "name": "ledger-source", "type": "source", "connector": {"state": "RUNNING", "worker_id": "w:1"},
        "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w:1",
                   "trace": "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change "
                            "event producer.\n\tat x\nCaused by: org.apache.kafka.common.errors."
                            "GroupAuthorizationException: Not authorized to access group: ledger-schemahistory\n"}]})
    first = failure_message(failed).splitlines()[0]
    assert first == ("ledger-source: task 0 is FAILED: org.apache.kafka.common.errors.GroupAuthorizationException: "
                     "Not authorized to access group: ledger-schemahistory")


def test_summary_counts_tasks_rather_than_naming_task_0() -> None:
    """`connectors deploy` printed "tasks: 0 RUNNING" for task 0 running, which reads as none running."""
    assert summary(state("RUNNING", "RUNNING")) == "connector RUNNING, tasks: 1 of 1 RUNNING"
    assert summary(state("RUNNING")) == "connector RUNNING, tasks: none yet"
    assert summary(state("RUNNING", "UNASSIGNED", "RUNNING", "FAILED", "UNASSIGNED")) == (
        "connector RUNNING, tasks: 1 of 4 RUNNING, 2 UNASSIGNED (tasks 0, 3), 1 FAILED (task 2)")
    assert summary(state("PAUSED", "PAUSED", "PAUSED")) == "connector PAUSED, tasks: 2 of 2 PAUSED (tasks 0, 1)"


def test_global_options_go_before_or_after_the_subcommand() -> None:
    parser = build_parser("connectors")
    before = parser.parse_args(["connectors", "--env", "compose", "--connect-url", "http://h:1", "status"])
    after = parser.parse_args(["connectors", "status", "--env", "compose", "--connect-url", "http://h:1"])
    for args in (before, after):
        assert (args.env, args.connect_url, args.json) == ("compose", "http://h:1", False)
    plain = parser.parse_args(["connectors", "snapshot", "crm-source", "--tables", "customers, products",
                               "--json"])
    assert (plain.env, plain.tables, plain.json) == (None, ["customers", "products"], True)
    restart = parser.parse_args(["connectors", "restart", "erp-source", "--failed-only"])
    assert restart.failed_only and restart.names == ["erp-source"]
