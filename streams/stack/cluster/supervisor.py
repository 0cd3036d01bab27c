"""The test cluster's processes: three KRaft nodes (each broker and controller) and one Kafka Connect worker.

Three combined nodes rather than three brokers plus three controllers: the quorum still has three voters and
the topics three replicas, at half the JVMs, which is what a 2-core machine that also runs the shared stack
can carry. Listeners: ``SASL_SSL`` (SCRAM-SHA-512) for clients and between brokers, ``CONTROLLER`` over mutual
TLS. The SCRAM users are written into the metadata when the storage is formatted, so the brokers can log in to
each other before any of them serves; the ACLs are applied by the ``admin`` super user once all three answer.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError

from streams.config import client_kwargs
from streams.stack.cluster.acls import Grant
from streams.stack.cluster.certs import NODE_DN, ClusterCerts, make_certs
from streams.stack.cluster.settings import MECHANISM, USERS, ClusterSettings
from streams.stack.exceptions import StackError
from streams.stack.process import LaunchSpec, ManagedProcess
from streams.stack.progress import Progress
from streams.stack.secrets import StackSecrets
from streams.stack.services.base import ServiceContext, java_argv, port_open, write_properties
from streams.stack.services.connect_worker import worker_properties
from streams.stack.services.kafka import new_cluster_id
from streams.stack.settings import StackSettings

DEBEZIUM_CLASSES = frozenset({"io.debezium.connector.postgresql.PostgresConnector",
                              "io.debezium.connector.mariadb.MariaDbConnector"})


def _jaas(user: str, password: str) -> str:
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'


class SecuredCluster:
    """Start, stop, kill and restart the test cluster's processes; apply its ACLs."""

    def __init__(self, settings: ClusterSettings, stack_secrets: StackSecrets, progress: Progress | None = None,
                 ) -> None:
        self.settings = settings
        self.progress = progress or Progress()
        self.ctx = ServiceContext(settings=StackSettings(home=settings.home), secrets=stack_secrets, toolchain=None,
                                  progress=self.progress)
        s = settings
        self.nodes = [ManagedProcess(f"node-{i}", s.home / "run", s.home / "logs" / f"node-{i}.log")
                      for i in range(s.nodes)]
        self.connect = ManagedProcess("connect", s.home / "run", s.home / "logs" / "connect.log")

    # -- configuration --------------------------------------------------------------------------------------

    def _certs(self) -> ClusterCerts:
        return make_certs(self.settings.certs_dir, self.settings.password("keystore"))

    def _tls(self, certs: ClusterCerts, prefix: str = "") -> dict[str, str | int]:
        return {f"{prefix}ssl.truststore.location": str(certs.truststore), f"{prefix}ssl.truststore.type": "PKCS12",
                f"{prefix}ssl.truststore.password": certs.password}

    def _node_config(self, index: int, certs: ClusterCerts) -> Path:
        s = self.settings
        voters = ",".join(f"{i + 1}@{s.host}:{s.controller_port + i}" for i in range(s.nodes))
        return write_properties(s.home / "conf" / f"node-{index}.properties", {
            "process.roles": "broker,controller",
            "node.id": index + 1,
            "controller.quorum.voters": voters,
            "listeners": f"SASL_SSL://{s.host}:{s.broker_port + index},"
                         f"CONTROLLER://{s.host}:{s.controller_port + index}",
            "advertised.listeners": f"SASL_SSL://{s.host}:{s.broker_port + index}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _jaas("admin", s.password("admin")),
            "ssl.keystore.location": str(certs.keystore),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.password": certs.password,
            "ssl.key.password": certs.password,
            **self._tls(certs),
            "listener.name.controller.ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:admin;User:{NODE_DN}",
            "allow.everyone.if.no.acl.found": "false",
            "log.dirs": str(s.home / "data" / f"node-{index}"),
            "num.partitions": 1,
            "default.replication.factor": s.nodes,
            "min.insync.replicas": 2,
            "offsets.topic.replication.factor": s.nodes,
            "transaction.state.log.replication.factor": s.nodes,
            "transaction.state.log.min.isr": 2,
            "share.coordinator.state.topic.replication.factor": s.nodes,
            "share.coordinator.state.topic.min.isr": 2,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "num.io.threads": 2,
            "num.network.threads": 2,
            "background.threads": 2,
            "log.cleaner.threads": 1,
        })

    def _format(self, configs: list[Path], cluster_id: str) -> None:
        """Format every node's storage at once (each a JVM start: in parallel, not one after the other), with
        the SCRAM users in the bootstrap metadata."""
        users = [arg for user in USERS
                 for arg in ("--add-scram", f"{MECHANISM}=[name={user},password={self.settings.password(user)}]")]
        running = [subprocess.Popen(java_argv(self.ctx, 256, self.settings.jars_dir / "kafka",
                                              "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                              "--config", str(config), *users),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                   for config in configs]
        for index, process in enumerate(running):
            output, _ = process.communicate()
            if process.returncode != 0:
                raise StackError(f"formatting node-{index} of the test cluster failed:\n{output}")

    def _connect_config(self, certs: ClusterCerts) -> Path:
        s = self.settings
        login: dict[str, str | int] = {"security.protocol": "SASL_SSL", "sasl.mechanism": MECHANISM,
                                       "sasl.jaas.config": _jaas("connect", s.password("connect")), **self._tls(certs)}
        clients = {f"{prefix}{key}": value for prefix in ("", "producer.", "consumer.", "admin.")
                   for key, value in login.items()}
        config = write_properties(s.home / "conf" / "connect-distributed.properties", worker_properties(
            bootstrap=",".join(s.bootstrap_servers), group=s.connect_group, topics=f"_{s.connect_group}",
            replication=s.nodes, host=s.host, port=s.connect_port, plugins=s.jars_dir / "plugins",
            allowed_paths=s.connect_allowed_paths, providers=("file",), clients=clients))
        config.chmod(0o600)
        return config

    def write_connect_login(self, path: Path) -> Path:
        """Connect's login as a properties file (``sasl.jaas.config``, mode 0600) for a connector config to name with
        ``${file:<path>:sasl.jaas.config}`` (connect-configs/overlays/secured.yaml): Debezium's schema-history
        clients log in as the worker does, no secret in the config. Its folder must be one of
        ``connect_allowed_paths``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"sasl.jaas.config={_jaas('connect', self.settings.password('connect'))}\n", encoding="utf-8")
        return path

    # -- processes ------------------------------------------------------------------------------------------

    def start(self, grants: list[Grant], timeout: float = 180) -> None:
        """Format (the first time) and start every node, apply ``grants``, then start Connect (which needs its
        ACLs to create its topics). Idempotent: what runs already is left alone."""
        taken = [p for p in self.settings.ports if port_open(self.settings.host, p)]
        running = any(n.pid() for n in self.nodes) or self.connect.pid()
        if taken and not running:
            raise StackError(f"the test cluster's ports {taken} on {self.settings.host} are used by another process; "
                             "stop it or give the cluster other ports (ClusterSettings)")
        certs = self._certs()
        if not (self.settings.home / "data" / "node-0" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            self._format([self._node_config(i, certs) for i in range(self.settings.nodes)], cluster_id)
            self.progress.say(f"test cluster: formatted {self.settings.nodes} nodes (cluster id {cluster_id})")
        began = time.monotonic()
        for index in range(self.settings.nodes):
            self.start_node(index)
        self.wait_brokers(self.settings.nodes, timeout)
        self.progress.say(f"test cluster: {self.settings.nodes} brokers up ({time.monotonic() - began:.0f}s)")
        self.grant(grants)
        if self.connect.pid() is None:
            argv = java_argv(self.ctx, self.settings.connect_heap_mb, self.settings.jars_dir / "connect",
                             "org.apache.kafka.connect.cli.ConnectDistributed", str(self._connect_config(certs)))
            self._launch(self.connect, argv)
        self.wait_connect(timeout)
        self.progress.say(f"test cluster: Connect up at {self.settings.connect_url} ({time.monotonic() - began:.0f}s)")

    def _launch(self, process: ManagedProcess, argv: tuple[str, ...]) -> None:
        pid = process.start(LaunchSpec(argv=argv))
        self.progress.say(f"test cluster: {process.name} started (pid {pid})")

    def start_node(self, index: int) -> None:
        if self.nodes[index].pid() is not None:
            return
        config = self._node_config(index, self._certs())
        self._launch(self.nodes[index], java_argv(self.ctx, self.settings.node_heap_mb,
                                                  self.settings.jars_dir / "kafka", "kafka.Kafka", str(config)))

    def kill_node(self, index: int) -> None:
        """SIGKILL one node (its whole process group), as a crashed broker."""
        self.nodes[index].stop(signal.SIGKILL, 0)

    def stop(self, grace_s: float = 30) -> None:
        """SIGTERM Connect, then each node, each killed after ``grace_s``. A cluster about to be thrown away
        (a test's, its data in a temporary folder) takes ``grace_s=0``: a controlled shutdown of three nodes
        costs ~40 s and proves nothing there."""
        self.connect.stop(signal.SIGTERM, grace_s)
        for node in self.nodes:
            node.stop(signal.SIGTERM, grace_s)

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(**client_kwargs(self.settings.kafka("admin")), client_id="isthmus-cluster-admin",
                                request_timeout_ms=10000)

    def wait_brokers(self, count: int, timeout: float) -> None:
        """Until ``count`` brokers are registered, as the admin sees them."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for node in self.nodes:
                pid = node.pid()
                if pid is None and self.nodes.index(node) < count:
                    raise StackError(f"{node.name} exited during start; last lines of {node.log_path}:\n"
                                     f"{node.log_tail()}")
            try:
                admin = self.admin()
                try:
                    seen = len(admin.describe_cluster().get("brokers") or [])
                finally:
                    admin.close()
            except KafkaError:
                seen = 0
            if seen >= count:
                return
            time.sleep(1)
        raise StackError(f"the test cluster has {seen} of {count} brokers after {timeout:.0f}s; "
                         f"see {self.settings.home / 'logs'}")

    def wait_connect(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connect.pid() is None:
                raise StackError(f"Kafka Connect exited during start:\n{self.connect.log_tail()}")
            try:
                answer = httpx.get(f"{self.settings.connect_url}/connector-plugins", timeout=3)
                if answer.status_code == 200 and {p.get("class") for p in answer.json()} >= DEBEZIUM_CLASSES:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise StackError(f"Kafka Connect did not answer within {timeout:.0f}s:\n{self.connect.log_tail()}")

    # -- ACLs -----------------------------------------------------------------------------------------------

    def grant(self, grants: list[Grant]) -> None:
        """Create the ACLs (allow, from any host); existing ones are kept (creating one twice is a no-op)."""
        acls = [ACL(principal=f"User:{g.principal}", host="*", operation=ACLOperation[g.operation.upper()],
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=ResourcePattern(ResourceType[g.resource.upper()], g.name,
                                                     ACLResourcePatternType[g.pattern.upper()]))
                for g in grants]
        admin = self.admin()
        try:
            result = admin.create_acls(acls)
        finally:
            admin.close()
        if result.get("failed"):
            raise StackError(f"the test cluster refused ACLs: {result['failed']}")
