"""Where the chaos run's Kafka and Kafka Connect run, and what the Kafka faults do to them.

``SingleBroker``: the chaos stack's own broker and Connect (``StackManager``), as always. ``ThreeBrokers``
(``--brokers 3``): a 3-node KRaft cluster with Connect distributed on it (chaos/cluster.py), every topic with
3 replicas and ``min.insync.replicas`` 2, and the ``kill-broker`` fault. Both leave the databases and the
reference APIs to the stack manager.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from chaos.cluster import MIN_INSYNC_REPLICAS, REPLICATION_FACTOR, PlainCluster, cluster_settings
from chaos.exceptions import ChaosError
from chaos.schedule import CLUSTER_KINDS, KINDS
from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.capture.deploy import deploy
from streams.cli.main import main as cli_main
from streams.kafka.hanging import TransactionsTool
from streams.stack.jars import ensure_jars
from streams.stack.manager import StackManager
from streams.stack.prerequisites import find_toolchain

Say = Callable[[str], None]

#: The stack's services besides its broker and Connect: what ``ThreeBrokers`` asks the stack manager for.
NON_KAFKA_SERVICES = ("crm-db", "erp-db", "crm-api", "erp-api")


def out_of_sync(described: list[dict[str, Any]]) -> list[str]:
    """``topic[partition]`` of every partition with fewer in-sync replicas than replicas, from kafka-python's
    ``KafkaAdminClient.describe_topics()`` (keys ``name``, ``partition_index``, ``replica_nodes``, ``isr_nodes``)."""
    return [f"{t['name']}[{p['partition_index']}]" for t in described for p in t["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"])]


class SingleBroker:
    """The chaos stack's one broker and its Connect."""

    kinds: tuple[str, ...] = KINDS

    def __init__(self, manager: StackManager) -> None:
        self.manager = manager

    @property
    def bootstrap(self) -> str:
        return self.manager.settings.bootstrap_servers

    @property
    def connect_url(self) -> str:
        return self.manager.settings.connect_url

    def describe(self) -> str:
        return f"one broker at {self.bootstrap}"

    def client_env(self) -> dict[str, str]:
        """Nothing to add: the runtime takes the stack's broker and Connect from the stack's offer."""
        return {}

    def transactions_tool(self) -> TransactionsTool:
        settings = self.manager.settings
        return TransactionsTool(kafka=settings.bootstrap_servers, kafka_jars=settings.jars_dir / "kafka")

    def up(self) -> None:
        self.manager.up()

    def down(self) -> None:
        self.manager.down()

    def wipe(self) -> None:
        """Stop everything and delete the data (``--fresh``)."""
        self.manager.down()
        shutil.rmtree(self.manager.settings.data_dir, ignore_errors=True)

    def deploy_connectors(self, say: Say) -> None:
        if cli_main(["connectors", "deploy"]) != 0:
            raise ChaosError("`isthmus connectors deploy` failed (see above)")

    def restart_kafka(self) -> None:
        self.manager.restart("kafka")

    def restart_connect(self) -> None:
        self.manager.restart("connect")

    def kill_broker(self, pause_s: float) -> str:
        raise ChaosError("kill-broker needs the 3-broker cluster: run with --brokers 3")


class ThreeBrokers:
    """A 3-broker cluster and Connect on it, beside the stack's databases and reference APIs."""

    kinds: tuple[str, ...] = CLUSTER_KINDS

    def __init__(self, manager: StackManager, say: Say) -> None:
        self.manager = manager
        self.say = say
        settings = manager.settings
        self.cluster = PlainCluster(cluster_settings(settings.home / "cluster", settings.jars_dir,
                                                     manager.secrets.path.parent), manager.secrets)
        self.kills = 0

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def connect_url(self) -> str:
        return self.cluster.settings.connect_url

    def describe(self) -> str:
        return (f"{self.cluster.settings.nodes} brokers at {self.bootstrap} (replication factor "
                f"{REPLICATION_FACTOR}, min.insync.replicas {MIN_INSYNC_REPLICAS}), Connect at {self.connect_url}")

    def client_env(self) -> dict[str, str]:
        """The runtime settings (streams/config) that point every Isthmus process at the cluster and make the
        topics it creates replicated."""
        return {"ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "ISTHMUS_KAFKA_REPLICATION_FACTOR": str(REPLICATION_FACTOR),
                "ISTHMUS_KAFKA_MIN_INSYNC_REPLICAS": str(MIN_INSYNC_REPLICAS),
                "ISTHMUS_CONNECT_URLS": self.connect_url}

    def transactions_tool(self) -> TransactionsTool:
        return TransactionsTool(kafka=self.bootstrap, kafka_jars=self.manager.settings.jars_dir / "kafka")

    def up(self) -> None:
        ensure_jars(self.manager.settings.jars_dir, find_toolchain().mvn, self.manager.progress)
        self.manager.up(NON_KAFKA_SERVICES)
        self.cluster.start([], timeout=300)

    def down(self) -> None:
        self.cluster.stop()
        self.manager.down()

    def wipe(self) -> None:
        self.down()
        shutil.rmtree(self.manager.settings.data_dir, ignore_errors=True)
        shutil.rmtree(self.cluster.settings.home / "data", ignore_errors=True)

    def deploy_connectors(self, say: Say) -> None:
        """The stack's connectors (overlay ``local``), their schema history on the cluster's brokers and their
        change topics created with the cluster's replication factor."""
        settings, secrets = self.manager.settings, self.manager.secrets
        # The placeholders of the stack's overlay (connect-configs/overlays/local.yaml), with the cluster's brokers.
        variables = {"host": settings.host, "crm_db_port": str(settings.crm_db_port),
                     "erp_db_port": str(settings.erp_db_port), "kafka_bootstrap_servers": self.bootstrap,
                     "connect_url": self.connect_url, "secrets_file": str(secrets.path),
                     "erp_time_zone": settings.erp_time_zone}
        config_set = configs.load(configs.DEFAULT_ROOT, env="local")
        with ConnectClient(self.connect_url) as client:
            for name in config_set.names:
                connector = config_set.render(name, variables)
                if connector.problems:
                    raise ChaosError(f"connector {name}: " + "; ".join(str(p) for p in connector.problems))
                config = {**connector.config, "topic.creation.default.replication.factor": str(REPLICATION_FACTOR)}
                deploy(client, type(connector)(name=connector.name, path=connector.path, env=connector.env,
                                               config=config, sources=connector.sources), say=say, timeout=300)

    def restart_kafka(self) -> None:
        """Every broker stopped (SIGTERM, a clean shutdown), then all started: the cluster restarted; done when
        every partition is fully in sync again."""
        for node in self.cluster.nodes:
            node.stop(signal.SIGTERM, 60)
        self.cluster.start([], timeout=300)
        self._wait_in_sync(300)

    def _wait_in_sync(self, timeout: float) -> None:
        """Until no partition has fewer in-sync replicas than replicas. A broker killed while the others still
        catch up would leave partitions below ``min.insync.replicas``: writes stop (nothing is lost), and the
        fault is no longer "one broker of three lost"."""
        deadline = time.monotonic() + timeout
        behind: list[str] = []
        while time.monotonic() < deadline:
            try:
                admin = self.cluster.admin()
                try:
                    behind = out_of_sync(admin.describe_topics())
                finally:
                    admin.close()
            except KafkaError as exc:
                behind = [f"({type(exc).__name__})"]
            if not behind:
                return
            time.sleep(3)
        raise ChaosError(f"{len(behind)} partition(s) not fully in sync {timeout:.0f}s after a broker restart, "
                         f"e.g. {', '.join(behind[:4])}; see {self.cluster.settings.home / 'logs'}")

    def restart_connect(self) -> None:
        self.cluster.connect.stop(signal.SIGTERM, 60)
        self.cluster.start([], timeout=300)

    def kill_broker(self, pause_s: float) -> str:
        """Once every partition is in sync, SIGKILL one node (the next in turn, so that repeats hit different
        nodes), keep it down ``pause_s``, start it again, and wait until it serves and has caught up; which node."""
        index = self.kills % self.cluster.settings.nodes
        self.kills += 1
        self._wait_in_sync(300)
        self.cluster.kill_node(index)
        time.sleep(pause_s)
        self.cluster.start_node(index)
        self._wait_serving(index, 300)
        self._wait_in_sync(300)
        return f"node-{index}"

    def _wait_serving(self, index: int, timeout: float) -> None:
        """Until node ``index`` itself answers a request. Counting the brokers the cluster lists is not enough:
        the fenced registration of the killed node is listed until the new process registers again."""
        s = self.cluster.settings
        address = f"{s.host}:{s.broker_port + index}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.cluster.nodes[index].pid() is None:
                raise ChaosError(f"node-{index} exited after its restart; see {self.cluster.nodes[index].log_path}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=address, client_id="isthmus-chaos-probe",
                                         request_timeout_ms=5000)
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except KafkaError:
                time.sleep(2)
        raise ChaosError(f"node-{index} did not answer at {address} within {timeout:.0f}s after its restart")


Backend = SingleBroker | ThreeBrokers
