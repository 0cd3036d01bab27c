"""What each supported connector class accepts: option names and types, required keys, secret keys.

The option lists are Connect's own (:mod:`streams.capture.plugin_options`); Debezium and Connect also
accept whole families of options by prefix (converter and transform settings, the schema history's
Kafka clients, topic creation groups), listed here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from streams.capture import plugin_options

POSTGRES = "io.debezium.connector.postgresql.PostgresConnector"
MARIADB = "io.debezium.connector.mariadb.MariaDbConnector"

#: Option families Connect or Debezium pass on to a sub-component.
COMMON_PREFIXES = (
    "key.converter.", "value.converter.", "header.converter.", "transforms.", "predicates.",
    "topic.creation.", "producer.override.", "consumer.override.", "admin.override.",
    "column.mask.hash.", "column.mask.with.", "column.truncate.to.", "snapshot.select.statement.overrides.",
    "driver.", "signal.kafka.", "signal.consumer.", "notification.",
)

#: Options of the default topic naming strategy, which Connect's plugin listing does not show.
TOPIC_NAMING = {
    "topic.delimiter": "STRING", "topic.cache.size": "INT", "topic.heartbeat.prefix": "STRING",
    "topic.transaction": "STRING",
}

#: The Kafka-backed schema history of the binlog connectors.
SCHEMA_HISTORY = {
    "schema.history.internal.kafka.topic": "STRING",
    "schema.history.internal.kafka.bootstrap.servers": "STRING",
    "schema.history.internal.kafka.recovery.poll.interval.ms": "INT",
    "schema.history.internal.kafka.recovery.attempts": "INT",
    "schema.history.internal.kafka.query.timeout.ms": "LONG",
    "schema.history.internal.kafka.create.timeout.ms": "LONG",
}

_CONNECTION = ("connector.class", "topic.prefix", "database.hostname", "database.port", "database.user",
               "database.password", "table.include.list")

_SECRET_NAME = re.compile(r"password|passwd|secret|token|credential|sasl\.jaas\.config", re.IGNORECASE)
_PROVIDER_REFERENCE = re.compile(r"^\$\{[A-Za-z0-9_.-]+:[^{}]*\}$")


@dataclass(frozen=True, kw_only=True)
class ConnectorKind:
    connector_class: str
    label: str
    options: Mapping[str, str]
    required: tuple[str, ...]
    prefixes: tuple[str, ...] = COMMON_PREFIXES

    def knows(self, key: str) -> bool:
        return key in self.options or key.startswith(self.prefixes)

    def type_of(self, key: str) -> str:
        return self.options.get(key, "STRING")

    def is_secret(self, key: str) -> bool:
        return self.type_of(key) == "PASSWORD" or bool(_SECRET_NAME.search(key))


KINDS: dict[str, ConnectorKind] = {
    POSTGRES: ConnectorKind(
        connector_class=POSTGRES,
        label="Debezium PostgreSQL",
        options={**plugin_options.POSTGRES, **TOPIC_NAMING},
        required=(*_CONNECTION, "database.dbname", "plugin.name", "slot.name", "publication.name"),
    ),
    MARIADB: ConnectorKind(
        connector_class=MARIADB,
        label="Debezium MariaDB",
        options={**plugin_options.MARIADB, **TOPIC_NAMING, **SCHEMA_HISTORY},
        required=(*_CONNECTION, "database.server.id", "schema.history.internal.kafka.topic",
                  "schema.history.internal.kafka.bootstrap.servers"),
        prefixes=(*COMMON_PREFIXES, "schema.history.internal.producer.", "schema.history.internal.consumer."),
    ),
}


def is_provider_reference(value: str) -> bool:
    """True for a whole-value Kafka Connect config provider reference such as ``${file:/p:key}``."""
    return bool(_PROVIDER_REFERENCE.match(value))


def looks_secret(key: str, connector_class: str | None) -> bool:
    """Whether a key holds a secret, for a class Isthmus knows or (by its name) for any other."""
    kind = KINDS.get(connector_class or "")
    return kind.is_secret(key) if kind else bool(_SECRET_NAME.search(key))
