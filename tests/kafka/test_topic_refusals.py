"""A topic the broker refuses to create is an error naming it and the principal, not a topic waited for in vain
(issue 16, item 3: a principal without ACLs)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.config import KafkaSettings
from streams.kafka.topics import KafkaUnavailable, _raise_refusals

KAFKA = KafkaSettings.model_validate({"bootstrap_servers": "b1:9093", "security_protocol": "SASL_PLAINTEXT",
                                      "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "intruder",
                                      "sasl_password": "x"})


def test_an_authorization_refusal_names_the_topic_and_the_principal() -> None:
    answer = SimpleNamespace(topic_errors=[("isthmus.commands.erp", 0, None), ("crm.public.customers", 29, None)])
    with pytest.raises(KafkaUnavailable) as caught:
        _raise_refusals(answer, KAFKA)
    message = str(caught.value)
    assert "topic crm.public.customers: TOPIC_AUTHORIZATION_FAILED" in message and "intruder" in message
    assert "isthmus.commands.erp" not in message


def test_created_or_already_existing_topics_pass() -> None:
    _raise_refusals(SimpleNamespace(topic_errors=[("a", 0, None), ("b", 36, "exists")]), KAFKA)
