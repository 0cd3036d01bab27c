"""A client set up for SASL_SSL against the local PLAINTEXT broker fails soon, saying what, where and the fix
(issue 16, item 3: the first half; the secured 3-broker cluster comes later)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from streams.config import KafkaSettings
from streams.kafka.topics import KafkaUnavailable, ensure_topics
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration


def test_sasl_ssl_against_a_plaintext_listener_fails_clearly(stack: RunningStack, tmp_path: Path) -> None:
    kafka = KafkaSettings.model_validate({
        "bootstrap_servers": stack.settings.bootstrap_servers, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "isthmus", "sasl_password": "not-used"})
    began = time.monotonic()
    with pytest.raises(KafkaUnavailable) as caught:
        asyncio.run(ensure_topics(kafka, []))
    elapsed = time.monotonic() - began
    message = str(caught.value)
    assert f"Kafka at {stack.settings.bootstrap_servers} (SASL_SSL, SCRAM-SHA-512 as isthmus)" in message
    assert "ISTHMUS_KAFKA_SECURITY_PROTOCOL" in message and "match their listener" in message
    assert elapsed < 60, f"took {elapsed:.0f}s: it should fail, not hang"
