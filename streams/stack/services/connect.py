"""Kafka Connect in distributed mode, with the Debezium plugins and the env and file config providers."""

from __future__ import annotations

import httpx

from streams.stack.process import LaunchSpec
from streams.stack.services.base import Service, java_argv, port_open, write_properties
from streams.stack.services.connect_worker import internal_topic, worker_properties

#: Where Connect keeps the source connectors' positions (written in their exactly-once transactions).
#: The local worker's internal topics: ``<this>.offsets``, ``.configs``, ``.status``.
INTERNAL_TOPICS = "_isthmus.connect"
OFFSETS_TOPIC = internal_topic(INTERNAL_TOPICS, "offsets")

DEBEZIUM_CLASSES = frozenset({
    "io.debezium.connector.postgresql.PostgresConnector",
    "io.debezium.connector.mariadb.MariaDbConnector",
})


class KafkaConnect(Service):
    name = "connect"
    depends_on = ("kafka",)
    start_timeout = 120.0

    @property
    def address(self) -> str:
        return self.settings.connect_url

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.connect_port,)

    def launch(self) -> LaunchSpec:
        s = self.settings
        config = write_properties(self.ctx.conf_dir / "connect-distributed.properties", worker_properties(
            bootstrap=s.bootstrap_servers, group="isthmus-connect", topics=INTERNAL_TOPICS, replication=1,
            host=s.host, port=s.connect_port, plugins=s.jars_dir / "plugins",
            allowed_paths=(self.ctx.secrets.path.parent,)))
        return LaunchSpec(argv=java_argv(self.ctx, s.connect_heap_mb, s.jars_dir / "connect",
                                         "org.apache.kafka.connect.cli.ConnectDistributed", str(config)))

    def is_healthy(self) -> bool:
        if not port_open(self.settings.host, self.settings.connect_port):
            return False
        try:
            answer = httpx.get(f"{self.address}/connector-plugins", timeout=3)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        classes = {plugin.get("class") for plugin in answer.json()}
        return classes >= DEBEZIUM_CLASSES
