"""The test cluster's ACLs keep each principal to its own names (issue 16, item 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from secured_cluster.pair import CHANGE_TOPIC_PREFIXES, SECOND_PAIR, renamed

from streams.capture import configs, notifications
from streams.stack.cluster.acls import OWN_PREFIX, connect_grants, isthmus_grants

CHANGES = ("crm.", "erp.")


def test_isthmus_owns_only_its_prefix_and_reads_the_change_topics() -> None:
    grants = isthmus_grants("isthmus", CHANGES)
    owned = {(g.resource, g.name) for g in grants if g.operation == "all"}
    assert owned == {("topic", OWN_PREFIX), ("group", OWN_PREFIX), ("transactional_id", OWN_PREFIX)}
    reads = {(g.name, g.operation) for g in grants if g.operation != "all"}
    assert reads == {(p, op) for p in CHANGES for op in ("read", "describe", "create")} | {
        ("__debezium-heartbeat.", "read"), ("__debezium-heartbeat.", "describe")}  # status judges capture by them
    assert all(g.pattern == "prefixed" and g.resource != "cluster" for g in grants)


def test_connect_never_touches_what_isthmus_owns() -> None:
    grants = connect_grants("connect", "sc-connect", CHANGES)
    named = [g for g in grants if g.resource != "cluster"]
    assert named and not [g for g in named if g.name.startswith(OWN_PREFIX) or OWN_PREFIX.startswith(g.name)]
    assert {g.operation for g in grants if g.resource == "cluster"} == {"describe", "describe_configs",
                                                                       "idempotent_write"}


def test_connect_writes_and_isthmus_reads_every_connectors_notification_topic() -> None:
    """The sink channel's topic of every shipped connector and of the secured cluster's pair lies under its topic
    prefix, where the change topics' grants already reach: `isthmus connectors snapshot` can follow a snapshot."""
    shipped = [yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
               for path in sorted((configs.DEFAULT_ROOT / "connectors").glob("*.yaml"))]
    secured = [yaml.safe_load(renamed(path.read_text(encoding="utf-8")))["config"]
               for path in sorted((SECOND_PAIR / "connect-configs" / "connectors").glob("*.yaml"))]
    for connectors, prefixes in ((shipped, CHANGES), (secured, CHANGE_TOPIC_PREFIXES)):
        topics = [notifications.notification_topic({k: str(v) for k, v in c.items()}) for c in connectors]
        assert len(topics) == 2 and all(topics), topics
        isthmus, connect = isthmus_grants("isthmus", prefixes), connect_grants("connect", "sc-connect", prefixes)
        for topic in topics:
            assert topic is not None
            for operation in ("read", "describe"):
                assert any(g.allows("topic", topic, operation) for g in isthmus), (topic, operation)
            assert any(g.allows("topic", topic, "write") for g in connect), topic


def _connectors(folder: Path, rename: Callable[[str], str] = str) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in yaml.safe_load(rename(path.read_text(encoding="utf-8")))["config"].items()}
            for path in sorted((folder / "connect-configs" / "connectors").glob("*.yaml"))]


def test_connect_reads_back_each_binlog_connectors_schema_history() -> None:
    """A MariaDB connector's task reads its schema history back at every start with offsets, as Debezium's consumer
    in group ``<topic.prefix>-schemahistory``, a name under no change-topic prefix (``sledger-``, not ``sledger.``):
    granted only the prefixes, the first deploy ran and the task failed at its next start with
    GroupAuthorizationException. The grants follow the connectors' configs."""
    connectors = _connectors(SECOND_PAIR, renamed)
    grants = connect_grants("connect", "sc-connect", CHANGE_TOPIC_PREFIXES, connectors)
    for operation in ("read", "describe"):
        assert any(g.allows("group", "sledger-schemahistory", operation) for g in grants), operation
    for operation in ("read", "write", "describe", "create"):
        assert any(g.allows("topic", "_isthmus.sledger.schema-history", operation) for g in grants), operation
    assert not any(g.allows("group", "srolodex-schemahistory", "read") for g in grants), "PostgreSQL keeps none"
    assert not [g for g in grants if g.name.startswith(OWN_PREFIX)]
    assert connect_grants("connect", "sc-connect", CHANGE_TOPIC_PREFIXES) == [
        g for g in grants if "schema" not in g.name], "no connectors, no schema history"


def test_a_schema_history_named_otherwise_is_granted_under_its_own_names() -> None:
    config = {"topic.prefix": "kasse", "schema.history.internal.kafka.topic": "kasse-history",
              "schema.history.internal.name": "kasse-ddl",
              "schema.history.internal.producer.transactional.id": "kasse-ddl-writer"}
    grants = connect_grants("connect", "sc-connect", ("kasse.",), [config])
    assert any(g.allows("group", "kasse-ddl", "read") for g in grants)
    assert not any(g.allows("group", "kasse-schemahistory", "read") for g in grants)
    assert any(g.allows("transactional_id", "kasse-ddl-writer", "write") for g in grants)
    grouped = connect_grants("connect", "sc-connect", ("kasse.",),
                             [{**config, "schema.history.internal.consumer.group.id": "kasse-readers"}])
    assert any(g.allows("group", "kasse-readers", "read") for g in grouped)


def test_the_shipped_erp_connectors_history_group_is_granted() -> None:
    connectors = _connectors(configs.DEFAULT_ROOT.parent)
    grants = connect_grants("connect", "platform-connect", CHANGES, connectors)
    assert any(g.allows("group", "erp-schemahistory", "read") for g in grants)
    assert any(g.allows("topic", "_isthmus.erp.schema-history", "write") for g in grants)
    assert any(g.allows("transactional_id", "connect-cluster-platform-connect", "write") for g in grants)
