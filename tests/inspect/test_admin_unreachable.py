"""`isthmus topics list|lag|describe …` against brokers that do not answer (or refuse the login) said nothing but
kafka-python's 40-line traceback, ending `KafkaTimeoutError: Unable to bootstrap from [...]`: now the error of every
other command, with the address, the protocol and the settings to check."""

from __future__ import annotations

import pytest

from streams.config.kafka import KafkaSettings
from streams.errors import IsthmusError
from streams.inspect import admin

pytestmark = pytest.mark.unit


def test_brokers_that_do_not_answer_are_an_isthmus_error_naming_the_address_and_settings() -> None:
    kafka = KafkaSettings.model_validate({"bootstrap_servers": ["127.0.0.1:9"]})  # the discard port: refused
    with pytest.raises(IsthmusError) as caught:
        admin.admin(kafka, bootstrap_timeout_s=1.0)
    message = str(caught.value)
    assert "Kafka at 127.0.0.1:9 (PLAINTEXT) cannot be reached" in message
    assert "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS" in message
