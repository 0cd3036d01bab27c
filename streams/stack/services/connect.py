"""Kafka Connect in distributed mode, with the Debezium plugins and the env and file config providers."""

from __future__ import annotations

import httpx

from streams.stack.process import LaunchSpec
from streams.stack.services.base import Service, java_argv, port_open, write_properties

#: Where Connect keeps the source connectors' positions (written in their exactly-once transactions).
OFFSETS_TOPIC = "_isthmus.connect.offsets"

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
        config = write_properties(self.ctx.conf_dir / "connect-distributed.properties", {
            "bootstrap.servers": s.bootstrap_servers,
            "group.id": "isthmus-connect",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "true",
            "value.converter.schemas.enable": "true",
            "offset.storage.topic": OFFSETS_TOPIC,
            "config.storage.topic": "_isthmus.connect.configs",
            "status.storage.topic": "_isthmus.connect.status",
            "offset.storage.replication.factor": 1,
            "config.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.flush.interval.ms": 1000,
            "listeners": f"http://{s.host}:{s.connect_port}",
            "rest.advertised.host.name": s.host,
            "rest.advertised.port": s.connect_port,
            "plugin.path": str(s.jars_dir / "plugins"),
            "plugin.discovery": "hybrid_warn",
            "config.providers": "env,file",
            "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "config.providers.file.param.allowed.paths": str(self.ctx.secrets.path.parent),
            "connector.client.config.override.policy": "All",
            "exactly.once.source.support": "enabled",
            "scheduled.rebalance.max.delay.ms": 0,
        })
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
