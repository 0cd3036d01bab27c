"""The dashboard in headless Chromium against the real stack: live figures move while records flow, a viewer is
refused the replay action (HTTP 403, shown on the page and audited), an operator's replay reaches the topic."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import aiohttp
import pytest
from dashboard_cdp import CHROMIUM, chromium
from dashboard_support import Dashboard
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from support.topics import values_to_end

from streams.capture.client import ConnectClient
from streams.codecs.avro.single_object import SchemaStore
from streams.dashboard.app import DashboardConfig
from streams.inspect.roles import AccessPolicy, Role
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.stack.running import RunningStack

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard.png"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} missing: install Debian's chromium (stack/setup.sh does)")


@pytest.fixture
def topics(stack: RunningStack) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    own = {"data": f"dash-it-{suffix}", "dlq": f"dash-it-dlq-{suffix}"}
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    admin.create_topics([NewTopic(t, 1, 1) for t in own.values()])
    yield own
    admin.delete_topics(list(own.values()))
    admin.close()


def _produce(bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value, key=key)
    producer.flush()
    producer.close()


def _dead_letter(bootstrap: str, topics: dict[str, str]) -> None:
    """A dead letter whose original is offset 0 of the data topic, as a flow writes it."""
    store = SchemaStore.from_directory()
    original = Original(topic=topics["data"], partition=0, offset=0, timestamp_ms=0, key=b"C-DASH",
                        value=b"poison for the dashboard test")
    letter = dead_letter_value(original, reason="dashboard test poison", error_type="Rejected", stage="flow",
                               attempts=1, worker="dashboard-test")
    _produce(bootstrap, topics["dlq"], [store.encode(DEAD_LETTER_TYPE, letter)], key=b"C-DASH")


def _records(bootstrap: str, topic: str) -> list[bytes | None]:
    return values_to_end(bootstrap, topic, committed=False)


async def _post_replay(url: str, token: str, address: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(
            url + "api/dlq/replay", json={"positions": [address]},
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


def test_live_dashboard_in_chromium_and_replay_by_role(stack: RunningStack, topics: dict[str, str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    bootstrap = stack.settings.bootstrap_servers
    suffix = topics["data"].rsplit("-", 1)[1]
    viewer, operator = f"viewer-{suffix}", f"operator-{suffix}"
    policy = AccessPolicy(tokens=MappingProxyType({viewer: Role.VIEWER, operator: Role.OPERATOR}), source="test")
    config = DashboardConfig(bootstrap=bootstrap, connect_url=stack.settings.connect_url, policy=policy,
                             dlq_topic=topics["dlq"])
    _produce(bootstrap, topics["data"], [b"first"])
    _dead_letter(bootstrap, topics)
    caplog.set_level(logging.WARNING, logger="isthmus.audit")
    with ConnectClient(stack.settings.connect_url) as connect:
        deployed = set(connect.connectors())

    async def browse(url: str) -> None:
        async with chromium() as page:
            await page.navigate(url)
            await page.evaluate(f"document.querySelector('#token').value = {viewer!r}; "
                                "document.querySelector('#login').requestSubmit()")
            await page.wait_for("document.querySelector('#notice').textContent === 'Signed in as viewer'")
            await page.wait_for("document.querySelector('#role').textContent === 'role: viewer'")
            await page.wait_for("!!document.querySelector('#sampled').textContent.startsWith('sampled')")
            selector = json.dumps(f'td[data-topic="{topics["data"]}"]')
            cell = f"document.querySelector({selector})"
            before = int(await page.wait_for(f"{cell} && {cell}.textContent"))
            _produce(bootstrap, topics["data"], [f"live {n}".encode() for n in range(5)])
            after = int(await page.wait_for(f"{cell} && Number({cell}.textContent) > {before} && "
                                            f"{cell}.textContent"))
            assert after >= before + 5
            connectors = await page.evaluate(
                "[...document.querySelectorAll('#connectors tbody tr td:first-child')].map(td => td.textContent)")
            assert set(connectors) == deployed
            await page.wait_for("!!document.querySelector('button.replay[data-address=\"0:0\"]')")
            await page.evaluate("document.querySelector('button.replay[data-address=\"0:0\"]').click()")
            refusal = await page.wait_for("document.querySelector('#notice.denied') && "
                                          "document.querySelector('#notice').textContent")
            assert "HTTP 403" in refusal and "role viewer may not replay dead letters" in refusal
            await page.screenshot(ARTIFACT)

    with Dashboard(config) as dashboard:
        asyncio.run(browse(dashboard.url))
        assert _records(bootstrap, topics["data"]) == [b"first", *(f"live {n}".encode() for n in range(5))]
        status, body = asyncio.run(_post_replay(dashboard.url, viewer, "0:0"))
        assert status == 403 and body["denied"] is True
        status, body = asyncio.run(_post_replay(dashboard.url, operator, "0:0"))
        assert status == 200, body
    assert ARTIFACT.stat().st_size > 10_000
    denials = [r.getMessage() for r in caplog.records if r.name == "isthmus.audit"]
    assert sum("denied replay dead letters to viewer token #1" in d for d in denials) == 2
    assert _records(bootstrap, topics["data"])[-1] == b"poison for the dashboard test"
