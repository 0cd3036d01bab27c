"""Debezium's Kafka schema history of a binlog connector (MariaDB, MySQL): the topic and the names of its own clients.

A binlog connector records the DDL of the tables it captures in a topic of its own and reads it back whenever its
task starts with offsets (a restart, a rebalance, a broker or worker restart): its first start has no history to
read. Its clients are Debezium's, not Connect's (``KafkaSchemaHistory``): they take ``schema.history.internal.
producer.*`` and ``.consumer.*`` and nothing of the worker's settings, so their address, login and names are the
connector config's. The consumer reads the topic back in a consumer group, ``group.id`` defaulting to the history's
name, ``schema.history.internal.name``, which defaults to ``<topic.prefix>-schemahistory`` (``erp-schemahistory``:
a hyphen, not under the change topics' ``erp.``); the producer is neither idempotent nor transactional unless its
options say so (``enable.idempotence`` false, no ``transactional.id``). An admin client checks the topic (and
creates it when missing), reading the brokers' ``default.replication.factor`` (DescribeConfigs on the cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TOPIC = "schema.history.internal.kafka.topic"
BOOTSTRAP_SERVERS = "schema.history.internal.kafka.bootstrap.servers"
NAME = "schema.history.internal.name"
CONSUMER_GROUP = "schema.history.internal.consumer.group.id"
TRANSACTIONAL_ID = "schema.history.internal.producer.transactional.id"
#: What Debezium appends to ``topic.prefix`` for the history's name when ``schema.history.internal.name`` is unset.
NAME_SUFFIX = "-schemahistory"


@dataclass(frozen=True, kw_only=True)
class SchemaHistory:
    """What a connector's schema history touches on Kafka: the principal its clients log in as needs each."""

    topic: str
    bootstrap_servers: str | None
    #: The consumer group the history is read back in, at every start with offsets.
    group: str
    #: The producer's transactional id, when its options set one (Debezium sets none).
    producer_transactional_id: str | None = None


def of(config: Mapping[str, str]) -> SchemaHistory | None:
    """A rendered connector config's Kafka schema history; None for a connector without one (PostgreSQL)."""
    topic = config.get(TOPIC)
    if not topic:
        return None
    name = config.get(NAME) or f"{config.get('topic.prefix', '')}{NAME_SUFFIX}"
    return SchemaHistory(topic=topic, bootstrap_servers=config.get(BOOTSTRAP_SERVERS),
                         group=config.get(CONSUMER_GROUP) or name,
                         producer_transactional_id=config.get(TRANSACTIONAL_ID))
