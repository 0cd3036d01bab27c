"""`isthmus connectors deploy | validate | status | diff` against the running Kafka Connect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.topics import records_to_end, topic_names

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.stack.running import RunningStack

from .conftest import run_cli

OURS = ("crm-source", "erp-source")


def config_topic_records(bootstrap: str, names: tuple[str, ...]) -> int:
    """How many records Connect's config topic holds about these connectors (configs, task configs,
    commits, target states): a deploy that changes nothing adds none."""
    topics = [t for t in topic_names(bootstrap) if "connect" in t and "config" in t]
    assert topics, "no Kafka Connect config topic found"
    keys = [(r.key or b"").decode() for r in records_to_end(bootstrap, topics, committed=False)]
    return sum(1 for key in keys if any(key in (f"connector-{n}", f"target-state-{n}")
                                        or key.startswith((f"task-{n}-", f"commit-{n}")) for n in names))


def test_both_connectors_deploy_and_run(deployed: dict[str, Any], connect: ConnectClient) -> None:
    assert set(deployed) == set(OURS)
    for name in OURS:
        assert deployed[name]["outcome"] in ("created", "updated", "unchanged")
        status = connect.status(name)
        assert status.running, status
    code, document = run_cli("connectors", "status", *OURS)
    assert code == 0
    rows = {row["name"]: row for row in document["connectors"]}
    for name in OURS:
        assert rows[name]["config"] == "unchanged"
        assert rows[name]["status"]["state"] == "RUNNING"
        assert [t["state"] for t in rows[name]["status"]["tasks"]] == ["RUNNING"]


def test_deployed_configs_keep_secrets_as_provider_references(
        deployed: dict[str, Any], connect: ConnectClient, stack: RunningStack) -> None:
    crm = connect.get_config("crm-source")
    erp = connect.get_config("erp-source")
    assert crm["database.password"] == stack.secrets.connect_reference("crm.db.password")
    assert erp["database.password"] == stack.secrets.connect_reference("erp.db.password")
    assert stack.secrets.crm_db_password.reveal() not in json.dumps(crm)


def test_deploying_the_same_config_twice_changes_nothing(
        deployed: dict[str, Any], connect: ConnectClient, stack: RunningStack) -> None:
    before = {name: connect.get_config(name) for name in OURS}
    records = config_topic_records(stack.settings.bootstrap_servers, OURS)
    assert records > 0

    code, document = run_cli("connectors", "deploy")

    assert code == 0
    assert [(d["name"], d["outcome"]) for d in document["deployed"]] == [(n, "unchanged") for n in OURS]
    assert {name: connect.get_config(name) for name in OURS} == before
    assert config_topic_records(stack.settings.bootstrap_servers, OURS) == records
    code, diff = run_cli("connectors", "diff")
    assert [c["state"] for c in diff["connectors"]] == ["unchanged", "unchanged"]


def test_committed_configs_pass_kafka_connects_validation(deployed: dict[str, Any]) -> None:
    code, document = run_cli("connectors", "validate")
    assert code == 0, document
    assert [(c["name"], c["valid"]) for c in document["connectors"]] == [(n, True) for n in OURS]


def edit(root: Path, name: str, old: str, new: str) -> Path:
    path = root / "connectors" / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "key", "found_by", "words"), [
    ("heartbeat.interval.ms: 10000", "heartbeat.interval.ms: soon", "heartbeat.interval.ms", "isthmus",
     "must be a whole number"),
    ("snapshot.mode: initial", "snapshot.mode: whenever", "snapshot.mode", "connect", "Value must be one of"),
])
def test_a_broken_config_is_refused_naming_the_key_and_nothing_is_deployed(
        deployed: dict[str, Any], connect: ConnectClient, stack: RunningStack, config_root: Path,
        old: str, new: str, key: str, found_by: str, words: str) -> None:
    path = edit(config_root, "crm-source", old, new)
    before = connect.get_config("crm-source")
    records = config_topic_records(stack.settings.bootstrap_servers, OURS)

    code, document = run_cli("connectors", "deploy", "--configs", str(config_root))

    assert code == 1
    assert document["deployed"] == []
    refused = {r["name"]: r for r in document["refused"]}
    assert refused["erp-source"]["valid"] is True
    [problem] = refused["crm-source"]["problems"]
    assert (problem["key"], problem["found_by"], Path(problem["file"]).resolve()) == (key, found_by, path)
    assert words in problem["message"] and problem["fix"]
    assert connect.get_config("crm-source") == before
    assert config_topic_records(stack.settings.bootstrap_servers, OURS) == records


def test_a_new_connector_with_a_literal_password_is_never_created(
        deployed: dict[str, Any], connect: ConnectClient, config_root: Path, stack: RunningStack) -> None:
    name = "isthmus-test-literal-secret"
    source = (config_root / "connectors" / "crm-source.yaml").read_text(encoding="utf-8")
    literal = source.replace("name: crm-source", f"name: {name}").replace(
        '"${file:{{secrets_file}}:crm.db.password}"', "not-a-reference")
    (config_root / "connectors" / f"{name}.yaml").write_text(literal, encoding="utf-8")

    code, document = run_cli("connectors", "deploy", name, "--configs", str(config_root))

    assert code == 1
    [refused] = document["refused"]
    assert [(p["key"], p["message"]) for p in refused["problems"]] == [
        ("database.password", "holds a secret written literally")]
    assert connect.find_config(name) is None
    assert configs.load(config_root, env="local").names == sorted([*OURS, name])
