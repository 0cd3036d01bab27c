"""Where the test cluster listens, what it is made of, and the principals it knows."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from streams.config import KafkaSettings

#: The SASL principals: ``admin`` (super user: the brokers among themselves, the ACLs), ``isthmus`` (the
#: runtime), ``connect`` (Kafka Connect) and ``intruder`` (a valid login that no ACL names).
USERS = ("admin", "isthmus", "connect", "intruder")
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    home: Path
    #: The local stack's jars (Kafka, Connect, the Debezium plugins).
    jars_dir: Path
    host: str = "127.0.0.1"
    nodes: int = 3
    #: Node ``i`` (0-based) listens for clients on ``broker_port + i`` and for controllers on
    #: ``controller_port + i``.
    broker_port: int = 24091
    controller_port: int = 24191
    connect_port: int = 24083
    #: Heaps small enough for three nodes and Connect on a 2-core machine next to the shared stack.
    node_heap_mb: int = 320
    connect_heap_mb: int = 448
    #: Kafka Connect's worker group: its internal topics are ``_<group>.*``, its transactional ids ``<group>*``.
    connect_group: str = "sc-connect"
    #: Folders whose files Connect's ``${file:...}`` provider may read (the stack's secrets).
    connect_allowed_paths: tuple[Path, ...] = ()

    @property
    def bootstrap_servers(self) -> list[str]:
        return [f"{self.host}:{self.broker_port + i}" for i in range(self.nodes)]

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.connect_port}"

    @property
    def ports(self) -> list[int]:
        return [*(self.broker_port + i for i in range(self.nodes)),
                *(self.controller_port + i for i in range(self.nodes)), self.connect_port]

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def certs_dir(self) -> Path:
        return self.home / "certs"

    def password_file(self, user: str) -> Path:
        return self.secrets_dir / f"{user}.password"

    def password(self, user: str) -> str:
        """The user's password, generated into its file (mode 0600) on first use."""
        path = self.password_file(user)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()

    def kafka(self, user: str) -> KafkaSettings:
        """The runtime's Kafka settings of ``user``: SASL_SSL, SCRAM-SHA-512, the test CA, RF 3 and min ISR 2."""
        return KafkaSettings.model_validate({
            "bootstrap_servers": self.bootstrap_servers, "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM, "sasl_username": user, "sasl_password_file": self.password_file(user),
            "ssl_cafile": self.certs_dir / "ca.pem", "replication_factor": self.nodes, "min_insync_replicas": 2})

    def kafka_env(self, user: str) -> dict[str, str]:
        """The same as ``ISTHMUS_KAFKA_*`` variables, for a process (the installed ``isthmus``)."""
        self.password(user)
        return {
            "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": ",".join(self.bootstrap_servers),
            "ISTHMUS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ISTHMUS_KAFKA_SASL_MECHANISM": MECHANISM,
            "ISTHMUS_KAFKA_SASL_USERNAME": user,
            "ISTHMUS_KAFKA_SASL_PASSWORD_FILE": str(self.password_file(user)),
            "ISTHMUS_KAFKA_SSL_CAFILE": str(self.certs_dir / "ca.pem"),
            "ISTHMUS_KAFKA_REPLICATION_FACTOR": str(self.nodes),
            "ISTHMUS_KAFKA_MIN_INSYNC_REPLICAS": "2",
            "ISTHMUS_CONNECT_URLS": self.connect_url,
        }
