"""Apache Kafka: one KRaft node that is both broker and controller, on loopback."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from streams.stack.exceptions import StackError
from streams.stack.process import LaunchSpec
from streams.stack.services.base import Service, java_argv, port_open, write_properties


def new_cluster_id() -> str:
    """A random KRaft cluster id, URL-safe base64 of a UUID; like Kafka's own, never starting with '-' (one in
    64 would, and a command line would then read it as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(Service):
    name = "kafka"

    @property
    def address(self) -> str:
        return self.settings.bootstrap_servers

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.kafka_port, self.settings.kafka_controller_port)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / "kafka"

    def _config(self) -> Path:
        s = self.settings
        return write_properties(self.ctx.conf_dir / "kafka.properties", {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@{s.host}:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://{s.host}:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": 1,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "true",
            "log.retention.hours": 168,
            "num.io.threads": 4,
            "num.network.threads": 2,
        })

    def prepare(self) -> None:
        config = self._config()
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = new_cluster_id()
        argv = java_argv(self.ctx, 256, self.settings.jars_dir / "kafka", "kafka.tools.StorageTool",
                         "format", f"--cluster-id={cluster_id}", "--config", str(config), "--ignore-formatted")
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage in {self.data_dir} failed:\n{result.stdout}{result.stderr}")
        self.ctx.progress.say(f"kafka: formatted KRaft storage (cluster id {cluster_id})")

    def launch(self) -> LaunchSpec:
        config = self._config()
        return LaunchSpec(argv=java_argv(self.ctx, self.settings.kafka_heap_mb, self.settings.jars_dir / "kafka",
                                         "kafka.Kafka", str(config)))

    def is_healthy(self) -> bool:
        if not port_open(self.settings.host, self.settings.kafka_port):
            return False
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.address, client_id="isthmus-health",
                                     request_timeout_ms=3000)
        except KafkaError:
            return False
        try:
            cluster = admin.describe_cluster()
            return bool(cluster.get("brokers"))
        except KafkaError:
            return False
        finally:
            admin.close()
