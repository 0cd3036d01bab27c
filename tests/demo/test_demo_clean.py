"""`make demo` after `make test` shows only the demo's data: what tests leave behind (consumer groups such as
``engine-probe-…``, topics ``it-…``, customers with random numbers) stays on the tests' stack.

The demo runs here as ``make demo`` runs it (none of the tests' stack settings), on a stack home and ports of its
own (23xxx: the default ones may belong to someone's running demo), which is stopped and deleted at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from streams.stack.manager import StackManager
from streams.stack.profiles import stack_env_for_tests
from streams.stack.running import RunningStack
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings

pytestmark = [pytest.mark.integration, pytest.mark.beside]

DEMO_PORTS = {
    "ISTHMUS_KAFKA_PORT": "23092", "ISTHMUS_KAFKA_CONTROLLER_PORT": "23093", "ISTHMUS_CONNECT_PORT": "23083",
    "ISTHMUS_CRM_DB_PORT": "23432", "ISTHMUS_ERP_DB_PORT": "23306", "ISTHMUS_CRM_API_PORT": "23001",
    "ISTHMUS_ERP_API_PORT": "23002", "ISTHMUS_TRYTON_PORT": "23010", "ISTHMUS_WORKER_PORT": "23090",
    "ISTHMUS_DASHBOARD_PORT": "23088",
}
#: What a test leaves behind, by the names tests give it.
LEFTOVER = re.compile(r"^(engine-|it-|dash-lag-)|-it-")


def leave_test_leftovers(stack: RunningStack, tag: str) -> str:
    """A topic, a consumer group with a committed offset and a CRM customer, as earlier tests leave them;
    the customer's number."""
    bootstrap = stack.settings.bootstrap_servers
    topic = f"it-{tag}.leftover"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    group = KafkaConsumer(bootstrap_servers=bootstrap, group_id=f"engine-probe-{tag}", enable_auto_commit=False)
    try:
        group.commit({TopicPartition(topic, 0): OffsetAndMetadata(0, "", -1)})
    finally:
        group.close()
    number = f"C-{int(tag, 16) % 10**12:012d}"
    with stack.connect_crm() as conn:
        conn.execute("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (number, f"it {tag}"))
    return number


@pytest.fixture
def demo_env(stack: RunningStack) -> Iterator[dict[str, str]]:
    """The environment `make demo` sees (the tests' stack settings removed), on a home and ports of its own."""
    home = Path("/var/tmp") / f"isthmus-demo-it-{uuid.uuid4().hex[:8]}"  # PostgreSQL's user must reach it
    home.mkdir(mode=0o755)
    (home / "jars").symlink_to(stack.settings.jars_dir)  # the same jars, resolved once
    env = {k: v for k, v in os.environ.items() if k not in stack_env_for_tests()}
    env.update(DEMO_PORTS, ISTHMUS_HOME=str(home), ISTHMUS_STACK="local")
    try:
        yield env
    finally:
        StackManager(StackSettings.from_env(env)).down()
        shutil.rmtree(home, ignore_errors=True)


def test_demo_after_tests_shows_only_its_own_data(stack: RunningStack, demo_env: dict[str, str]) -> None:
    leftover_customer = leave_test_leftovers(stack, uuid.uuid4().hex[:12])
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "demo", "--seconds", "30", "--rate", "4"],
                            capture_output=True, text=True, timeout=900, check=False, env=demo_env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    settings = StackSettings.from_env(demo_env)
    assert f"data: {settings.home}" in output, "the demo says where its data is"
    assert settings.home != stack.settings.home and settings.bootstrap_servers != stack.settings.bootstrap_servers

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        groups = sorted(g["group_id"] for g in admin.list_groups())
        topics = sorted(admin.list_topics())
    finally:
        admin.close()
    assert groups, "the demo's flows, sinks and loader have consumer groups"
    assert all(g.startswith("isthmus") for g in groups), groups
    assert not [t for t in topics if LEFTOVER.search(t)], topics
    assert all(t.startswith(("isthmus.", "isthmus-", "_isthmus.", "__", "crm.", "erp.")) for t in topics), topics

    demo = RunningStack(settings, load_or_create(settings.home))
    with demo.connect_crm() as conn:
        numbers = [row[0] for row in conn.execute("SELECT customer_number FROM crm.customers ORDER BY 1")]
    assert leftover_customer not in numbers
    sample = [n for n in numbers if re.fullmatch(r"C-\d{6}", n)]
    assert len(sample) >= 200 and sample == numbers, numbers[-10:]
