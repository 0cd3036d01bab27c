"""Isthmus, installed from its wheel in a fresh virtual environment, on a secured 3-node cluster (issue 16,
item 3): SASL_SSL with SCRAM-SHA-512, TLS from a CA made by the test, ACLs under the StandardAuthorizer, topics
with replication factor 3 and ``min.insync.replicas=2``, Kafka Connect over SASL_SSL running the Debezium
connectors. A company created in the CRM becomes a debitor in the ERP through worker and sink; a principal that
no ACL names is refused with the topic or group it may not touch.

The cluster is the test's own (streams/stack/cluster, ports 24xxx), started here and stopped at the end; the
databases are the shared stack's, under names of their own (secured_cluster/pair.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymysql.cursors import DictCursor
from secured_cluster.pair import (
    CHANGE_TOPIC_PREFIXES,
    CRM,
    CRM_SCHEMA,
    ERP,
    ERP_DATABASE,
    FLOW,
    SLOT,
    copy_pair,
)
from support.pipeline import drop_slot
from support.ports import free_port
from support.waiting import eventually

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.capture.configs import LocalConnector
from streams.capture.deploy import deploy, restart, wait_until
from streams.config.capture import kafka_variables
from streams.inspect.admin import topics as inspect_topics
from streams.stack.cluster.acls import OWN_PREFIX, connect_grants, isthmus_grants
from streams.stack.cluster.settings import ClusterSettings
from streams.stack.cluster.supervisor import SecuredCluster
from streams.stack.offer import stack_variables
from streams.stack.running import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.beside]


def _say(line: str) -> None:
    print(f"secured cluster: {line}")


@dataclass(frozen=True, kw_only=True)
class Setup:
    stack: RunningStack
    cluster: SecuredCluster
    files: Path
    bin: Path
    connectors: list[LocalConnector]

    def env(self, user: str) -> dict[str, str]:
        """The installed ``isthmus`` logging in as ``user``, on this test's files, the stack's databases."""
        s = self.stack.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISTHMUS_") and k != "PYTHONPATH"}
        return {**env, **self.cluster.settings.kafka_env(user), "ISTHMUS_RESYNC_AT": "off",
                "ISTHMUS_HOME": str(s.home), "ISTHMUS_CRM_DB_PORT": str(s.crm_db_port),
                "ISTHMUS_ERP_DB_PORT": str(s.erp_db_port),
                "ISTHMUS_SYSTEMS_DIR": str(self.files / "systems"),
                "ISTHMUS_MAPPINGS_DIR": str(self.files / "mappings"),
                "ISTHMUS_FLOWS_DIR": str(self.files / "flows"),
                "ISTHMUS_SINK_TARGETS_DIR": str(self.files / "targets"),
                "ISTHMUS_WORKER_FLOWS": FLOW, "ISTHMUS_WORKER_ID": f"sc-{user}"}


def _drop_databases(stack: RunningStack) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        drop_slot(conn, SLOT)
        conn.execute(f"DROP SCHEMA IF EXISTS {CRM_SCHEMA} CASCADE")
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{ERP_DATABASE}`")


def _create_databases(stack: RunningStack, files: Path) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute((files / "schema" / f"{CRM}.sql").read_text(encoding="utf-8"))
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{ERP_DATABASE}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{ERP_DATABASE}`")
        text = (files / "schema" / f"{ERP}.sql").read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        for statement in filter(str.strip, code.split(";")):
            cursor.execute(statement)


def _render_connectors(cluster: SecuredCluster, stack: RunningStack, files: Path, login: Path) -> list[LocalConnector]:
    """The pair's connectors, rendered for the stack's databases and the cluster as a user's would be: the
    shipped `secured` overlay (for the pair's ERP connector) gives the schema history's clients the protocol,
    mechanism and CA of the Kafka settings and Connect's login as a ``${file:...}`` reference; change topics with
    three replicas."""
    shipped = (configs.DEFAULT_ROOT / "overlays" / "secured.yaml").read_text(encoding="utf-8")
    overlay = files / "connect-configs" / "overlays" / "secured.yaml"
    overlay.write_text(shipped.replace("erp-source:", f"{ERP}-source:").replace(
        "/etc/kafka-connect/secrets/kafka-login.properties", str(login)), encoding="utf-8")
    variables = {**stack_variables(stack.settings, stack.secrets), **kafka_variables(cluster.settings.kafka("isthmus"))}
    config_set = configs.load(files / "connect-configs", env="secured")
    rendered = []
    for name in (f"{CRM}-source", f"{ERP}-source"):
        connector = config_set.render(name, variables)
        assert not connector.problems, connector.problems
        rendered.append(dataclasses.replace(
            connector, config={**connector.config, "topic.creation.default.replication.factor": "3"}))
    return rendered


def _deploy_connectors(setup: Setup) -> None:
    with ConnectClient(setup.cluster.settings.connect_url) as client:
        for connector in setup.connectors:
            deploy(client, connector, say=_say, timeout=240)


@pytest.fixture(scope="module")
def setup(stack: RunningStack, installed_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    began = time.monotonic()
    files = copy_pair(tmp_path_factory.mktemp("pair"))
    login = tmp_path_factory.mktemp("connect-login") / "kafka-login.properties"
    settings = ClusterSettings(home=tmp_path_factory.mktemp("cluster"), jars_dir=stack.settings.jars_dir,
                               connect_allowed_paths=(stack.secrets.path.parent, login.parent))
    cluster = SecuredCluster(settings, stack.secrets)
    _drop_databases(stack)
    _create_databases(stack, files)
    try:
        cluster.start(isthmus_grants("isthmus", CHANGE_TOPIC_PREFIXES)
                      + connect_grants("connect", settings.connect_group, CHANGE_TOPIC_PREFIXES))
        connectors = _render_connectors(cluster, stack, files, cluster.write_connect_login(login))
        # what the connectors' configs add (the ERP connector's schema-history topic and group): as a user would
        # grant them, from the rendered configs
        cluster.grant(connect_grants("connect", settings.connect_group, CHANGE_TOPIC_PREFIXES,
                                     [c.config for c in connectors]))
        ready = Setup(stack=stack, cluster=cluster, files=files, bin=installed_wheel, connectors=connectors)
        _deploy_connectors(ready)
        _say(f"ready ({time.monotonic() - began:.0f}s)")
        yield ready
    finally:
        cluster.stop(grace_s=0)  # its data is the test's temporary folder's
        _drop_databases(stack)
        _say(f"done ({time.monotonic() - began:.0f}s)")


def _start(setup: Setup, args: list[str], user: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([str(setup.bin / "isthmus"), *args], env={**setup.env(user), **extra},
                                cwd=log.parent, stdout=out, stderr=subprocess.STDOUT)


def _debitor(stack: RunningStack, reference: str) -> dict[str, object] | None:
    conn = stack.connect_erp(database=ERP_DATABASE, cursorclass=DictCursor, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT * FROM debitor WHERE crm_ref = %s", (reference,))
            rows = list(cursor.fetchall())
    finally:
        conn.close()
    return rows[0] if rows else None


def test_a_crm_change_reaches_the_erp_through_the_secured_cluster(setup: Setup, tmp_path: Path) -> None:
    began = time.monotonic()
    processes = [("worker", _start(setup, ["worker"], "isthmus", tmp_path / "worker.log",
                                   ISTHMUS_WORKER_PORT=str(free_port())))]
    processes += [(f"sink-{system}", _start(setup, ["sink", "--target", system], "isthmus",
                                            tmp_path / f"sink-{system}.log", ISTHMUS_SINK_METRICS_PORT="0"))
                  for system in (CRM, ERP)]
    run = uuid.uuid4().hex[:6].upper()
    reference = f"K-{run}"
    try:
        with setup.stack.connect_crm(autocommit=True, options=f"-c search_path={CRM_SCHEMA}") as conn:
            conn.execute("WITH c AS (INSERT INTO party (party_kind, display_name, mail, cust_ref) "
                         "VALUES ('company', 'Secure GmbH', 'info@secure.example', %s) RETURNING party_id) "
                         "INSERT INTO party_flag (flagged_party, archived) SELECT party_id, false FROM c", (reference,))

        def applied() -> dict[str, object] | None:
            for name, process in processes:
                assert process.poll() is None, f"{name} exited: {(tmp_path / f'{name}.log').read_text()[-4000:]}"
            return _debitor(setup.stack, reference)

        debitor = eventually("the debitor in the ERP", applied, timeout=240, every=1,
                             context=lambda: "worker log:\n" + (tmp_path / "worker.log").read_text()[-4000:])
        assert (debitor["debitor_no"], debitor["title"]) == (f"D-{run}", "Secure GmbH")
        _say(f"CRM change applied in the ERP after {time.monotonic() - began:.0f}s")
        _restart_reads_the_history_back(setup)
    finally:
        for _, process in processes:
            process.terminate()
        for name, process in processes:
            assert process.wait(timeout=60) == 0, f"{name}: {(tmp_path / f'{name}.log').read_text()[-4000:]}"

    # What the worker created is replicated three times, with two in sync required (as Isthmus's own
    # inspection sees it, logged in as the Isthmus principal).
    state = inspect_topics(setup.cluster.settings.kafka("isthmus"), include_internal=True,
                           config_keys=["min.insync.replicas"])
    created = [t for t in state if t.name.startswith(OWN_PREFIX)]
    assert {"isthmus.commands.sledger", "isthmus.results.sledger"} <= {t.name for t in created}, \
        [t.name for t in state]
    assert {len(p.replicas) for t in created for p in t.partitions} == {3}
    assert {t.config.get("min.insync.replicas") for t in created} == {"2"}


def _restart_reads_the_history_back(setup: Setup) -> None:
    """The ERP connector's task, restarted with offsets, reads its schema history back (as Debezium's consumer in
    group ``<topic.prefix>-schemahistory``, under no change-topic prefix) through the login and ACLs the configs
    gave it, and keeps running. A first deploy has no history to read: without this the missing group grant went
    unseen until a user's broker restart failed the task with GroupAuthorizationException."""
    name = f"{ERP}-source"
    with ConnectClient(setup.cluster.settings.connect_url) as client:
        restart(client, name, only_failed=False, say=_say, timeout=120)
        # the history is read back while the task starts; a refusal fails it moments after it reports RUNNING
        state = wait_until(client, name, "running", lambda s: s.running, say=_say, timeout=60, settle=20)
    assert state.running, state
    _say(f"{name} restarted and read its schema history back")


def test_a_principal_without_acls_is_refused_naming_the_topic_or_group(setup: Setup, tmp_path: Path) -> None:
    log = tmp_path / "intruder.log"
    process = _start(setup, ["worker"], "intruder", log, ISTHMUS_WORKER_PORT=str(free_port()))
    try:
        code = process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the worker of a principal without ACLs did not stop:\n{log.read_text()[-4000:]}")
    output = log.read_text()
    assert code != 0
    assert "not authorized" in output.lower() or "authorization" in output.lower(), output[-4000:]
    assert any(name in output for name in (f"{CRM}.", f"{ERP}.", FLOW, "isthmus.")), output[-4000:]
    assert "Traceback" not in output, output[-4000:]
