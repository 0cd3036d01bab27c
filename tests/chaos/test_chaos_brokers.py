"""The 3-broker chaos mode's plumbing: the kill-broker fault in the schedule and the report, and the cluster's
replication settings (every topic 3 replicas, min.insync.replicas 2, Connect's internal topics included)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chaos.cluster import CONNECT_GROUP, cluster_settings, connect_properties, node_properties
from chaos.runner import ChaosReport
from chaos.schedule import CLUSTER_KINDS, KINDS, plan
from streams.stack.services.connect import OFFSETS_TOPIC

pytestmark = pytest.mark.unit


def test_a_cluster_run_plans_kill_broker_twice_among_every_other_kind() -> None:
    faults = plan(duration_s=200, repeats=2, kinds=CLUSTER_KINDS)
    assert Counter(f.kind for f in faults) == {kind: 2 for kind in (*KINDS, "kill-broker")}
    assert all(f.target is None for f in faults if f.kind == "kill-broker")


def test_a_single_broker_run_never_plans_kill_broker() -> None:
    assert "kill-broker" not in {f.kind for f in plan(duration_s=200, repeats=2)}


def test_a_cluster_report_fails_without_two_broker_kills() -> None:
    report = ChaosReport(kinds=CLUSTER_KINDS, converge_s=1.0, faults=Counter({kind: 2 for kind in KINDS}))
    assert not report.passed
    assert "kill-broker 0" in report.describe()
    report.faults["kill-broker"] = 2
    assert report.passed


def test_every_node_replicates_every_topic_three_times_with_two_in_sync() -> None:
    settings = cluster_settings(Path("/tmp/c"), Path("/tmp/jars"), Path("/tmp/secrets"))
    assert settings.nodes == 3
    for index in range(3):
        node = node_properties(settings, index)
        assert node["node.id"] == index + 1
        assert node["listeners"] == (f"PLAINTEXT://127.0.0.1:{26192 + index},"
                                     f"CONTROLLER://127.0.0.1:{26292 + index}")
        assert node["controller.quorum.voters"] == "1@127.0.0.1:26292,2@127.0.0.1:26293,3@127.0.0.1:26294"
        for key in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor"):
            assert node[key] == 3, key
        assert node["min.insync.replicas"] == node["transaction.state.log.min.isr"] == 2
        assert node["unclean.leader.election.enable"] == "false"


def test_connect_keeps_its_internal_topics_on_three_replicas_under_the_runners_names() -> None:
    settings = cluster_settings(Path("/tmp/c"), Path("/tmp/jars"), Path("/tmp/secrets"))
    connect = connect_properties(settings)
    assert connect["bootstrap.servers"] == "127.0.0.1:26192,127.0.0.1:26193,127.0.0.1:26194"
    assert connect["offset.storage.topic"] == OFFSETS_TOPIC == f"_{CONNECT_GROUP}.offsets"
    for kind in ("offset", "config", "status"):
        assert connect[f"{kind}.storage.replication.factor"] == 3
    assert connect["config.providers.file.param.allowed.paths"] == "/tmp/secrets"
