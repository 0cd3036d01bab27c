"""`isthmus status` against the real stack, through the CLI: the connectors deployed, a flow whose worker stopped
(its group committed, no member) named with its lag, a flow whose worker runs, a held document, and a real sink,
which joins no group: idle before its first command (no group yet), running while it commits, not running once
stopped with commands waiting past the bound.

The test runs under a group and topic prefix of its own (``ISTHMUS_KAFKA_GROUP_PREFIX``/``_TOPIC_PREFIX``), so the
flows' groups and the holds topic it reports on are this test's, whatever other tests left on the shared stack. A
stopped worker leaves exactly what the test makes: a consumer group with committed offsets and no member.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from support.cli import isthmus
from support.commands import account_payload, command
from support.sink_worker import InProcessSink
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.topics import COMMAND_PARTITIONS
from streams.stack.running import RunningStack

STORE = SchemaStore.from_directory()


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return isthmus("status", *args, env=env)


@pytest.fixture
def world(stack: RunningStack, reference_capture: dict[str, Any]) -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    groups, topics = f"st-{run}-", f"st-{run}."
    source, holds = f"{topics}input", f"{topics}isthmus.holds"
    bootstrap = stack.settings.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(source, 1, 1), NewTopic(holds, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for n in range(5):
        producer.send(source, key=f"k{n}".encode(), value=b"{}")
    producer.send(holds, key=b"SO-1", value=STORE.encode("Hold", {
        "entity_key": "SO-1", "state": "held", "cause": "party_blocked", "flow": "isthmus-orders",
        "message": "account 7 is blocked", "origin": "crm", "target": "erp", "at": int(time.time() * 1_000_000)}))
    producer.flush()
    producer.close()
    # the orders flow's worker stopped after reading 2 of the 5 records: its group committed 2 and has no member
    stopped = KafkaConsumer(bootstrap_servers=bootstrap, group_id=f"{groups}isthmus-orders", enable_auto_commit=False)
    stopped.commit({TopicPartition(source, 0): OffsetAndMetadata(2, "", -1)})
    stopped.close()
    # the stock flow's worker runs: a member of its group, the partition assigned to it
    running = KafkaConsumer(bootstrap_servers=bootstrap, group_id=f"{groups}isthmus-stock",
                            client_id="status-test-worker", enable_auto_commit=False)
    # the topic in the consumer's own metadata before it joins: a leader that assigns without it assigns nothing
    # ("No partition metadata for topic"), and kafka-python looks again only after metadata_max_age_ms (5 min)
    eventually("the input topic in the worker's metadata", lambda: running.partitions_for_topic(source), timeout=30)
    running.subscribe([source])

    def joined() -> set[TopicPartition] | None:
        running.poll(timeout_ms=200)
        return running.assignment() or None

    eventually("the running worker's consumer joins its group", joined, timeout=60)
    env = {k: v for k, v in os.environ.items() if k != "ISTHMUS_WORKER_FLOWS"}
    env.update(ISTHMUS_KAFKA_GROUP_PREFIX=groups, ISTHMUS_KAFKA_TOPIC_PREFIX=topics)
    try:
        yield {"env": env, "source": source, "holds": holds, "groups": groups, "topics": topics,
               "bootstrap": bootstrap}
    finally:
        running.close()
        mine = {g["group_id"] for g in admin.list_groups()} & {f"{groups}isthmus-orders", f"{groups}isthmus-stock",
                                                               f"{groups}isthmus-sink-erp"}
        admin.delete_groups(sorted(mine))
        admin.delete_topics(sorted(set(admin.list_topics()) & {source, holds, f"{topics}isthmus.commands.erp",
                                                               f"{topics}isthmus.results.erp", f"{topics}isthmus.dlq"}))
        admin.close()


def test_status_names_the_stopped_flow_worker_with_its_lag(world: dict[str, Any]) -> None:
    done = status(world["env"], "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    connectors = {c["name"]: c for c in report["connect"]["connectors"]}
    for name in ("crm-source", "erp-source"):
        assert connectors[name]["running"] and connectors[name]["state"] == "RUNNING", connectors[name]
        assert [t["state"] for t in connectors[name]["tasks"]] == ["RUNNING"]
    flows = {f["name"]: f for f in report["flows"]}
    orders, stock = flows["isthmus-orders"], flows["isthmus-stock"]
    assert orders["state"] == "not running"
    assert orders["groups"] == [{"group": f"{world['groups']}isthmus-orders", "state": "Empty", "members": [],
                                 "lag": {world["source"]: 3}, "lag_about": []}]
    assert orders["held"] == 1
    assert stock["state"] == "running"
    [member] = stock["groups"][0]["members"]
    assert member["client_id"] == "status-test-worker" and member["partitions"] == 1
    assert flows["isthmus-customers"]["state"] == "not started"
    assert "flow isthmus-orders not running (3 record(s) waiting)" in report["problems"]
    assert not any("isthmus-stock" in p for p in report["problems"])
    assert report["holds"] == {"topic": world["holds"], "count": 1, "complete": True}
    assert report["dead_letters"]["count"] is None, "no dead-letter topic under this prefix"
    assert report["stack"] is not None and {s["name"] for s in report["stack"]["services"]} >= {"kafka", "connect"}

    text = status(world["env"])
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert lines[-1].startswith("NOT HEALTHY: ")
    assert "flow isthmus-orders not running (3 record(s) waiting)" in lines[-1]
    assert f"      lag  {world['source']} 3" in lines
    assert any(line.startswith("  isthmus-stock  running") for line in lines)


def _send_commands(world: dict[str, Any], topic: str, number: str, *operations: str) -> None:
    """ERP account commands of one entity (so of one partition: the one the sink commits on), in one transaction
    as a flow sends them: a commit marker follows them."""
    producer = KafkaProducer(bootstrap_servers=world["bootstrap"],
                             transactional_id=f"{world['groups']}feeder-{uuid.uuid4().hex[:6]}")
    producer.init_transactions()
    producer.begin_transaction()
    for n, operation in enumerate(operations):
        item = command(target="erp", operation=operation, payload_type="Account", entity_key=number,
                       payload=account_payload(number, credit_limit=f"{10 + n}.00"),
                       changed=["credit_limit"] if operation == "update" else [])
        producer.send(topic, STORE.encode("Command", item), key=number.encode())
    producer.commit_transaction()
    producer.close()


def test_a_real_sink_runs_without_a_member_and_is_not_running_once_stopped_with_commands_waiting(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    env, number = world["env"], f"C-7{int(world['groups'].split('-')[1], 16) % 10**9:09d}0001"
    for prefix in ("ISTHMUS_KAFKA_GROUP_PREFIX", "ISTHMUS_KAFKA_TOPIC_PREFIX"):  # the sink names its topics with them
        monkeypatch.setenv(prefix, env[prefix])
    commands = f"{world['topics']}isthmus.commands.erp"
    admin = KafkaAdminClient(bootstrap_servers=world["bootstrap"])
    admin.create_topics([NewTopic(commands, COMMAND_PARTITIONS, 1)])  # as the sink would; it starts on it
    admin.close()
    with InProcessSink("erp", env) as sink:
        # no command yet: nothing committed, so no group, and the sink is idle, not "not started"
        first = json.loads(status(env, "--json").stdout)
        erp = {s["name"]: s for s in first["sinks"]}["erp"]
        assert (erp["state"], erp["groups"], erp["waiting"]) == ("idle", [], 0), erp
        assert not any(p.startswith("sink erp") for p in first["problems"]), first["problems"]
        _send_commands(world, commands, number, "create", "update")
        eventually("both commands applied and committed", lambda: sink.worker.stats.committed >= 2 or None,
                   timeout=120)
        done = status(env, "--json", "--stall-after", "60")
        report = json.loads(done.stdout)
        erp = {s["name"]: s for s in report["sinks"]}["erp"]
        assert erp["state"] == "running", (erp, report["problems"])
        assert erp["activity"]["last_commit_ms"] is not None and erp["activity"]["error"] is None
        [grouped] = erp["groups"]
        assert grouped["members"] == [] and grouped["lag"] == {commands: 0}, "the commit marker is no record"
        assert not any(p.startswith("sink erp") for p in report["problems"]), report["problems"]

    _send_commands(world, commands, number, "update", "update")  # the sink is stopped: they wait
    time.sleep(3)
    text = status(env, "--stall-after", "2")
    assert text.returncode == 1, text.stderr
    verdict = text.stdout.splitlines()[-1]
    assert "sink erp not running (2 record(s) waiting, the oldest for " in verdict, verdict
    assert any(line.startswith("  erp  not running") for line in text.stdout.splitlines())
