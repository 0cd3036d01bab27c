"""Who may touch what on the test cluster: the ACLs of each principal, as data, then applied by an admin.

Isthmus owns every topic, consumer group and transactional id that begins with ``isthmus`` (its command,
result, dead-letter and flow topics, the flows' and sinks' groups and transactional ids) and reads the change
topics of the systems it syncs. Kafka Connect owns its worker group's topics, group and transactional ids and
writes the change topics; it also owns each binlog connector's schema history, whose names its config gives
(:mod:`streams.capture.schema_history`). No principal gets anything else: the StandardAuthorizer denies what no
ACL allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from streams.capture import schema_history

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["all", "read", "write", "create", "describe", "describe_configs", "idempotent_write"]

#: The prefix of everything Isthmus creates and uses on a cluster (topics, groups, transactional ids).
OWN_PREFIX = "isthmus"
#: The prefix of the connectors' heartbeat topics (Debezium's default `topic.heartbeat.prefix`): Connect writes them,
#: Isthmus reads them.
HEARTBEAT_PREFIX = "__debezium-heartbeat."


@dataclass(frozen=True, kw_only=True, order=True)
class Grant:
    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def __str__(self) -> str:
        return f"User:{self.principal} {self.operation} on {self.resource} {self.name!r} ({self.pattern})"

    def allows(self, resource: Resource, name: str, operation: Operation) -> bool:
        """Whether this grant lets its principal do ``operation`` on the resource ``name``."""
        named = name.startswith(self.name) if self.pattern == "prefixed" else name == self.name
        return self.resource == resource and named and self.operation in (operation, "all")


def isthmus_grants(principal: str, change_topic_prefixes: Sequence[str]) -> list[Grant]:
    """Isthmus: its own ``isthmus*`` topics, groups and transactional ids; read the systems' change topics (and the
    connectors' ``<prefix>.notifications``, which `isthmus connectors snapshot` follows), and create them (a worker
    creates its inputs that Debezium has not created yet, so it can subscribe at once); read the connectors'
    heartbeats, by which `isthmus status` and the dashboard judge a RUNNING connector's capture."""
    own = [Grant(principal=principal, resource=resource, name=OWN_PREFIX, pattern="prefixed", operation="all")
           for resource in ("topic", "group", "transactional_id")]
    reads = [Grant(principal=principal, resource="topic", name=prefix, pattern="prefixed", operation=operation)
             for prefix in change_topic_prefixes for operation in ("read", "describe", "create")]
    heartbeats = [Grant(principal=principal, resource="topic", name=HEARTBEAT_PREFIX, pattern="prefixed",
                        operation=operation) for operation in ("read", "describe")]
    return own + reads + heartbeats


def connect_grants(principal: str, group: str, change_topic_prefixes: Sequence[str],
                   connectors: Sequence[Mapping[str, str]] = ()) -> list[Grant]:
    """Kafka Connect (worker group ``group``): its internal topics, group and transactional ids (``<group>*``:
    exactly-once source tasks), the change topics, notifications and heartbeats it writes, the schema history of
    each of ``connectors`` (rendered configs) that has one, and the cluster-wide rights a distributed worker with
    exactly-once sources needs."""
    owned = [Grant(principal=principal, resource=resource, name=name, pattern="prefixed", operation="all")
             for name in (group, f"_{group}", *change_topic_prefixes, HEARTBEAT_PREFIX)
             for resource in ("topic", "group", "transactional_id")]
    # The leader writes the config topic through the transactional id ``connect-cluster-<group>`` (KIP-618).
    leader = [Grant(principal=principal, resource="transactional_id", name=f"connect-cluster-{group}",
                    pattern="literal", operation="all")]
    cluster = [Grant(principal=principal, resource="cluster", name="kafka-cluster", pattern="literal",
                     operation=operation) for operation in ("describe", "describe_configs", "idempotent_write")]
    return owned + leader + [g for c in connectors for g in _schema_history(principal, c)] + cluster


def _schema_history(principal: str, config: Mapping[str, str]) -> list[Grant]:
    """A connector's schema history: its topic, and the group its task reads it back in at every start with offsets
    (``<topic.prefix>-schemahistory``, under no change-topic prefix: without it the first deploy runs and the next
    start fails with GroupAuthorizationException), and its producer's transactional id if its config sets one."""
    history = schema_history.of(config)
    if history is None:
        return []
    names: list[tuple[Resource, str | None]] = [("topic", history.topic), ("group", history.group),
                                                ("transactional_id", history.producer_transactional_id)]
    return [Grant(principal=principal, resource=resource, name=name, pattern="literal", operation="all")
            for resource, name in names if name]

