"""``isthmus dashboard`` as a process on the real stack, and the customer-360 look-up masked per role."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from dashboard_support import Dashboard
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from support.ports import free_port

from streams.capture.client import ConnectClient
from streams.codecs.avro.single_object import SchemaStore
from streams.dashboard.app import DashboardConfig
from streams.inspect.roles import AccessPolicy, Role
from streams.stack.running import RunningStack

VIEW_SCHEMA = "isthmus.canonical.Customer360"


async def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        body = await response.text()
        return response.status, body


def _committed_group(bootstrap: str) -> tuple[str, str]:
    """A consumer group with a committed offset and one record left to read, so the dashboard has a lag to show
    even on a fresh stack."""
    run = uuid.uuid4().hex[:8]
    topic, group = f"dash-lag-{run}", f"dash-lag-{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(2):
        producer.send(topic, value=b"%d" % i)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(1, "", -1)})
    consumer.close()
    return topic, group


def test_isthmus_dashboard_serves_on_the_configured_port(stack: RunningStack) -> None:
    lag_topic, lag_group = _committed_group(stack.settings.bootstrap_servers)
    port = free_port()
    env = {**os.environ, "ISTHMUS_DASHBOARD_PORT": str(port), "ISTHMUS_TOKENS": "viewer:dash-cli-viewer"}
    process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "dashboard"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = ""
        while "dashboard at" not in line:
            line = process.stdout.readline()
            assert line, "isthmus dashboard exited before listening"
        assert line.strip() == f"isthmus: dashboard at http://127.0.0.1:{port}/"
        status, text = asyncio.run(_get(f"http://127.0.0.1:{port}/metrics"))
        assert status == 200
        with ConnectClient(stack.settings.connect_url) as connect:
            for name in connect.connectors():
                state = connect.status(name).state
                assert f'isthmus_connector_state{{connector="{name}",state="{state}"}} 1' in text
        assert "# TYPE isthmus_end_to_end_latency_seconds histogram" in text
        assert "# TYPE isthmus_conflicts_total counter" in text
        assert 'isthmus_sink_retries_total{target="crm"}' in text
        assert f'isthmus_consumer_lag{{group="{lag_group}",topic="{lag_topic}"}} 1' in text
        status, text = asyncio.run(_get(f"http://127.0.0.1:{port}/api/state", token="not-a-token"))
        assert status == 403 and "unknown token" in text
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def view_topic(stack: RunningStack) -> Iterator[tuple[str, str]]:
    topic, number = f"dash-it-360-{uuid.uuid4().hex[:8]}", f"C-DASH-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    store = SchemaStore.from_directory()
    view = {"customer_number": number, "updated_at": datetime.now(UTC),
            "customer": {"customer_number": number, "name": "Ada Dashboard", "email": "ada@example.test"}}
    producer = KafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers, acks="all")
    producer.send(topic, store.encode(VIEW_SCHEMA, view), key=number.encode())
    producer.flush()
    producer.close()
    yield topic, number
    admin.delete_topics([topic])
    admin.close()


def test_customer_360_is_masked_unless_an_admin_asks(stack: RunningStack, view_topic: tuple[str, str]) -> None:
    topic, number = view_topic
    policy = AccessPolicy(tokens=MappingProxyType({"v-360": Role.VIEWER, "a-360": Role.ADMIN}), source="test")
    config = DashboardConfig(bootstrap=stack.settings.bootstrap_servers, connect_url=stack.settings.connect_url,
                             policy=policy, customer360_topic=topic)
    with Dashboard(config) as dashboard:
        base = f"{dashboard.url}api/customer360/{number}"
        masked = asyncio.run(_get(base, "v-360"))
        refused = asyncio.run(_get(base + "?show_pii=1", "v-360"))
        admin_masked = asyncio.run(_get(base, "a-360"))
        shown = asyncio.run(_get(base + "?show_pii=1", "a-360"))
        missing = asyncio.run(_get(f"{dashboard.url}api/customer360/C-NOBODY", "v-360"))
    assert masked[0] == 200 and "Ada Dashboard" not in masked[1] and "ada@example.test" not in masked[1]
    assert '"name": "***"' in masked[1] and number in masked[1]
    assert refused[0] == 403 and "role viewer may not see personal data" in refused[1]
    assert admin_masked[0] == 200 and "Ada Dashboard" not in admin_masked[1]
    assert shown[0] == 200 and "Ada Dashboard" in shown[1] and "ada@example.test" in shown[1]
    assert missing[0] == 404
