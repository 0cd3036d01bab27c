"""The chaos suite's 3-broker cluster: the secured cluster's supervisor (streams/stack/cluster) with PLAINTEXT
listeners and no authorizer, so every chaos helper (observers, poison producer, transactions tool, watchdog)
keeps its plain clients while the brokers replicate like a production cluster's.

Why plain and not SASL_SSL: the chaos run's own clients and the reference stack's Connect wiring take a
``host:port`` list; the secured cluster's authentication and ACLs are proven by tests/secured_cluster, and a
broker lost under load is about replication (RF 3, ``min.insync.replicas`` 2), not about logins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient

from streams.stack.cluster.acls import Grant
from streams.stack.cluster.certs import ClusterCerts
from streams.stack.cluster.settings import ClusterSettings
from streams.stack.cluster.supervisor import SecuredCluster
from streams.stack.services.base import write_properties
from streams.stack.services.connect_worker import worker_properties

#: Connect's worker group: its internal topics are ``_isthmus.connect.{offsets,configs,status}``, the names the
#: single-broker stack's Connect uses (the runner watches ``OFFSETS_TOPIC`` for open transactions).
CONNECT_GROUP = "isthmus.connect"
#: Replication of every topic on the cluster, and the replicas that must have a write before it is acknowledged.
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True, kw_only=True)
class ChaosClusterPorts:
    """Below Linux's ephemeral range, beside the single-broker chaos stack's 26xxx ports."""

    broker_port: int = 26192
    controller_port: int = 26292
    connect_port: int = 26084


def cluster_settings(home: Path, jars_dir: Path, secrets_dir: Path,
                     ports: ChaosClusterPorts | None = None) -> ClusterSettings:
    """Three nodes under ``home``, the chaos stack's jars; Connect may read the stack's secrets file."""
    ports = ports or ChaosClusterPorts()
    return ClusterSettings(home=home, jars_dir=jars_dir, nodes=REPLICATION_FACTOR, broker_port=ports.broker_port,
                           controller_port=ports.controller_port, connect_port=ports.connect_port,
                           connect_group=CONNECT_GROUP, connect_allowed_paths=(secrets_dir,))


def node_properties(s: ClusterSettings, index: int) -> dict[str, str | int]:
    """Node ``index``'s broker config: PLAINTEXT, every topic (Kafka's internal ones included) with
    ``REPLICATION_FACTOR`` replicas and ``min.insync.replicas`` ``MIN_INSYNC_REPLICAS``."""
    voters = ",".join(f"{i + 1}@{s.host}:{s.controller_port + i}" for i in range(s.nodes))
    return {
        "process.roles": "broker,controller",
        "node.id": index + 1,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{s.host}:{s.broker_port + index},CONTROLLER://{s.host}:{s.controller_port + index}",
        "advertised.listeners": f"PLAINTEXT://{s.host}:{s.broker_port + index}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(s.home / "data" / f"node-{index}"),
        "num.partitions": 1,
        "default.replication.factor": REPLICATION_FACTOR,
        "min.insync.replicas": MIN_INSYNC_REPLICAS,
        "offsets.topic.replication.factor": REPLICATION_FACTOR,
        "transaction.state.log.replication.factor": REPLICATION_FACTOR,
        "transaction.state.log.min.isr": MIN_INSYNC_REPLICAS,
        "share.coordinator.state.topic.replication.factor": REPLICATION_FACTOR,
        "share.coordinator.state.topic.min.isr": MIN_INSYNC_REPLICAS,
        "group.initial.rebalance.delay.ms": 0,
        # Topics are created by their owners with the replication asked for, never by a stray client's request.
        "auto.create.topics.enable": "false",
        # A killed broker must not come back as leader of partitions it is behind on.
        "unclean.leader.election.enable": "false",
        "num.io.threads": 2,
        "num.network.threads": 2,
        "background.threads": 2,
        "log.cleaner.threads": 1,
    }


def connect_properties(s: ClusterSettings) -> dict[str, str | int]:
    """Kafka Connect, distributed, on the cluster: internal topics with ``REPLICATION_FACTOR`` replicas (their
    ``min.insync.replicas`` is the brokers' default, ``MIN_INSYNC_REPLICAS``), exactly-once sources."""
    return worker_properties(bootstrap=",".join(s.bootstrap_servers), group=s.connect_group,
                             topics=f"_{s.connect_group}", replication=REPLICATION_FACTOR, host=s.host,
                             port=s.connect_port, plugins=s.jars_dir / "plugins",
                             allowed_paths=s.connect_allowed_paths)


class PlainCluster(SecuredCluster):
    """The secured cluster's processes (start, ``kill_node``, ``start_node``, stop) with PLAINTEXT listeners,
    no authorizer and no ACLs."""

    def _node_config(self, index: int, certs: ClusterCerts) -> Path:
        return write_properties(self.settings.home / "conf" / f"node-{index}.properties",
                                node_properties(self.settings, index))

    def _connect_config(self, certs: ClusterCerts) -> Path:
        return write_properties(self.settings.home / "conf" / "connect-distributed.properties",
                                connect_properties(self.settings))

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers, client_id="isthmus-chaos-admin",
                                request_timeout_ms=10000)

    def grant(self, grants: list[Grant]) -> None:
        """No authorizer, so nothing to grant."""

    @property
    def bootstrap(self) -> str:
        """``host:port,host:port,host:port``: what the chaos run's clients and processes bootstrap from."""
        return ",".join(self.settings.bootstrap_servers)
