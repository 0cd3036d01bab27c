"""`isthmus topics list | describe | lag | tail | trace` against the real stack, through the CLI's output.

A CRM customer and its ERP account are written through the databases (the real connectors capture them);
the canonical record, a command and a dead letter for the same customer are produced to this test's own
topics. Assertions read what the command printed: personal data (the customer's name and e-mail) never
appears unless an admin token asks for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from support.cli import isthmus
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.stack.running import RunningStack

STORE = SchemaStore.from_directory()
TOKENS = "viewer:view-tok,admin:admin-tok"


def cli(stack: RunningStack, *args: str, token: str | None = None, ok: bool = True,
        extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ISTHMUS_TOKENS=TOKENS, **(extra or {}))
    env.pop("ISTHMUS_TOKEN", None)
    if token:
        env["ISTHMUS_TOKEN"] = token
    done = isthmus("topics", *args, env=env)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def world(stack: RunningStack) -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    digits = str(int(run, 16) % 10**9).zfill(9)
    number, code = f"C-9{digits}", f"AC-9{digits}"
    name, email = f"Inspect Person {run}", f"inspect.{run}@example.com"
    own = {kind: f"insp-{run}.{kind}" for kind in ("canonical", "commands", "dlq", "seek")}
    bootstrap = stack.settings.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(t, 1 if k != "commands" else 2, 1) for k, t in own.items()])
    started = datetime.now(UTC) - timedelta(seconds=5)
    with stack.connect_crm(autocommit=True) as crm:
        crm.execute("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
                    (number, name, email))
    erp = stack.connect_erp(autocommit=True)
    try:
        with erp.cursor() as cur:
            cur.execute("INSERT INTO accounts (account_code, name, email, crm_customer_number) VALUES "
                        "(%s, %s, %s, %s)", (code, name, email, number))
    finally:
        erp.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    now_ms = int(time.time() * 1000)
    producer.send(own["canonical"], key=number.encode(), value=STORE.encode(
        "Customer", {"customer_number": number, "name": name, "email": email, "account_code": code}))
    command = {"command_id": str(uuid.uuid4()), "idempotency_key": f"insp-{run}", "target": "erp",
               "operation": "create", "entity_type": "isthmus.canonical.Account", "entity_key": number,
               "payload_type": "isthmus.canonical.Account", "payload": json.dumps({"name": name}),
               "changed_fields": [], "source": {"system": "crm", "connector": "test", "database": "crm",
                                                "table": "customers", "commit_time": datetime.now(UTC)},
               "causation": {"event_id": f"test:{run}"}, "created_at": datetime.now(UTC)}
    for partition, operation in ((0, "create"), (1, "update")):
        producer.send(own["commands"], key=number.encode(), partition=partition,
                      value=STORE.encode("Command", {**command, "operation": operation}),
                      headers=[("isthmus.command_id", f"cmd-{operation}".encode())])
    producer.send(own["dlq"], key=number.encode(), value=STORE.encode("DeadLetter", {
        "reason": "ERP answered 422", "error_type": "Http422", "stage": "sink.erp", "topic": own["commands"],
        "partition": 0, "offset": 0, "timestamp": None, "key": number.encode(), "value": name.encode(),
        "headers": [], "failed_at": datetime.now(UTC), "attempts": 1, "worker": "test"}),
        headers=[("isthmus.stage", b"sink.erp")])
    for age, label in ((timedelta(hours=2), "old"), (timedelta(minutes=30), "recent")):
        producer.send(own["seek"], key=label.encode(), value=json.dumps({"label": label}).encode(),
                      timestamp_ms=now_ms - int(age.total_seconds() * 1000))
    producer.flush()
    producer.close()
    group = f"insp-{run}-group"
    for group_id in (group, f"other-{run}-group"):  # another environment's group on the same cluster
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
        consumer.commit({TopicPartition(own["seek"], 0): OffsetAndMetadata(1, "", -1)})
        consumer.close()
    yield {"number": number, "code": code, "name": name, "email": email, "own": own, "group": group,
           "started": started.isoformat().replace("+00:00", "Z"), "run": run}
    admin.delete_topics(list(own.values()))
    admin.close()


def cdc_trace(stack: RunningStack, world: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace, once both connectors have captured the rows (a wait, not an assertion)."""
    traces: list[list[dict[str, Any]]] = []

    def captured() -> bool:
        traces.append(trace(stack, world, "--token", "admin-tok", "--show-pii"))
        return {"crm.crm.customers", "erp.erp.accounts"} <= {r["topic"] for r in traces[-1]}

    with suppress(AssertionError):  # the test asserts on the trace itself
        eventually("both connectors' rows in the trace", captured, timeout=90, every=1)
    return traces[-1]


def trace(stack: RunningStack, world: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    topics = ["crm.crm.customers", "erp.erp.accounts", *world["own"].values()]
    args = [a for t in topics for a in ("--topic", t)]
    return lines(cli(stack, "trace", world["number"], "--since", world["started"], "--json", *args, *extra))


def test_list_describe_and_lag(stack: RunningStack, world: dict[str, Any]) -> None:
    own = world["own"]
    listed = {d["topic"]: d for d in lines(cli(stack, "list", "--json"))}
    assert listed[own["commands"]]["partitions"] == 2 and listed[own["commands"]]["messages"] == 2
    assert listed[own["seek"]]["cleanup_policy"] == "delete"
    assert "__consumer_offsets" not in listed
    assert "__consumer_offsets" in {d["topic"] for d in lines(cli(stack, "list", "--all", "--json"))}
    [described] = lines(cli(stack, "describe", own["commands"], "--json"))
    assert [(p["partition"], p["begin"], p["end"]) for p in described["partitions"]] == [(0, 0, 1), (1, 0, 1)]
    assert described["config"]["cleanup.policy"] == "delete" and "retention.ms" in described["config"]
    missing = cli(stack, "describe", f"no-such-{world['run']}", ok=False)
    assert missing.returncode == 2 and "no topic" in missing.stderr
    assert lines(cli(stack, "lag", "--group", world["group"], "--json")) == [
        {"group": world["group"], "topic": own["seek"], "partition": 0, "committed": 1, "end": 2, "lag": 1}]
    # with no group named: the groups of this environment's group_prefix, not every group of the cluster
    prefixed = {"ISTHMUS_KAFKA_GROUP_PREFIX": f"insp-{world['run']}-"}
    assert {row["group"] for row in lines(cli(stack, "lag", "--json", extra=prefixed))} == {world["group"]}
    every = {row["group"] for row in lines(cli(stack, "lag", "--json", "--all-groups", extra=prefixed))}
    assert {world["group"], f"other-{world['run']}-group"} <= every


def test_tail_filters_and_seeks(stack: RunningStack, world: dict[str, Any]) -> None:
    own = world["own"]
    commands = lines(cli(stack, "tail", own["commands"], "--json", "--key", world["number"],
                         "--where", "payload_type ~ Account"))
    assert sorted(c["value"]["operation"] for c in commands) == ["create", "update"]
    assert all(c["value"]["payload"] == "***" and world["name"] not in json.dumps(c) for c in commands)
    [update] = lines(cli(stack, "tail", own["commands"], "--json", "--header", "isthmus.command_id=cmd-update"))
    assert (update["partition"], update["value"]["operation"]) == (1, "update")
    [only] = lines(cli(stack, "tail", own["commands"], "--json", "--partition", "1"))
    assert only["partition"] == 1
    assert lines(cli(stack, "tail", own["commands"], "--json", "--key", "C-000000")) == []
    assert [r["key"] for r in lines(cli(stack, "tail", own["seek"], "--json", "--since", "1h"))] == ["recent"]
    since = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [r["key"] for r in lines(cli(stack, "tail", own["seek"], "--json", "--since", since))] == [
        "old", "recent"]
    assert [r["key"] for r in lines(cli(stack, "tail", own["seek"], "--json", "--offset", "1"))] == ["recent"]
    assert [r["key"] for r in lines(cli(stack, "tail", own["seek"], "--json", "--max", "1"))] == ["old"]
    table = cli(stack, "tail", own["dlq"]).stdout
    assert f"{own['dlq']}  0@0" in table and "DeadLetter" in table and "sink.erp Http422" in table
    bad = cli(stack, "tail", own["seek"], "--where", "label ==", ok=False)
    assert bad.returncode == 2 and "expected a value" in bad.stderr


def test_trace_follows_the_customer_and_masks_personal_data(stack: RunningStack, world: dict[str, Any]) -> None:
    revealed = cdc_trace(stack, world)
    own = world["own"]
    assert {"crm.crm.customers", "erp.erp.accounts", own["canonical"], own["commands"], own["dlq"]} <= {
        r["topic"] for r in revealed}
    assert [r["timestamp_ms"] for r in revealed] == sorted(r["timestamp_ms"] for r in revealed)
    assert world["name"] in json.dumps(revealed) and world["email"] in json.dumps(revealed)
    [crm_row] = [r for r in revealed if r["topic"] == "crm.crm.customers" and r["value"]["op"] == "c"]
    assert crm_row["kind"] == "debezium" and crm_row["value"]["after"]["customer_number"] == world["number"]

    for token in (None, "view-tok", "admin-tok"):
        masked = trace(stack, world, *(("--token", token) if token else ()))
        text = json.dumps(masked) + "".join(str(r) for r in masked)
        assert world["name"] not in text and world["email"] not in text
        assert {r["topic"] for r in masked} == {r["topic"] for r in revealed}
    table = cli(stack, "trace", world["number"], "--since", world["started"], "--topic", "crm.crm.customers",
                "--topic", "erp.erp.accounts", "--topic", own["dlq"])
    assert world["number"] in table.stdout and world["name"] not in table.stdout + table.stderr
    masked_dlq = lines(cli(stack, "tail", own["dlq"], "--json"))[0]["value"]
    assert masked_dlq["value"] == "***" and masked_dlq["key"] == "***"


def test_unmasking_needs_an_admin_token_and_denials_are_logged(stack: RunningStack, world: dict[str, Any]) -> None:
    own = world["own"]
    for token in (None, "view-tok"):
        denied = cli(stack, "tail", own["canonical"], "--json", "--show-pii",
                     *(("--token", token) if token else ()), ok=False)
        assert denied.returncode == 2 and denied.stdout == ""
        assert "access denied: role viewer may not show personal data" in denied.stderr
        assert "audit: denied show personal data in tail to" in denied.stderr
    unknown = cli(stack, "trace", world["number"], "--show-pii", "--token", "guess", "--topic", own["canonical"],
                  ok=False)
    assert unknown.returncode == 2 and "unknown token" in unknown.stderr and "guess" not in unknown.stderr
    raw = cli(stack, "tail", own["canonical"], "--output", "raw", ok=False)
    assert raw.returncode == 2 and "cannot mask" in raw.stderr and world["name"] not in raw.stdout
    shown = lines(cli(stack, "tail", own["canonical"], "--json", "--show-pii", token="admin-tok"))
    assert shown[0]["value"]["name"] == world["name"]
    masked = lines(cli(stack, "tail", own["canonical"], "--json", token="admin-tok"))
    assert masked[0]["value"]["name"] == "***" and world["email"] not in json.dumps(masked)
    dlq_denied = cli(stack, "dlq", "show", "0", "--show-pii", "--topic", own["dlq"], "--token", "view-tok",
                     ok=False)
    assert dlq_denied.returncode == 2 and "audit: denied" in dlq_denied.stderr
