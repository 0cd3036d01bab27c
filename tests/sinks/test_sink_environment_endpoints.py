"""A sink's adapter takes its API URL and database server from the endpoints settings."""

from __future__ import annotations

import json

import pytest

from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import SinkSettingsError

pytestmark = pytest.mark.unit


def test_the_endpoints_and_the_cluster_come_from_the_environment_over_the_offer() -> None:
    offer = {"kafka": {"bootstrap_servers": ["offered:9092"]},
             "endpoints": {"api_urls": {"erp": "http://offered:1"}}}
    env = {"ISTHMUS_ENDPOINTS_API_URLS": json.dumps({"erp": "https://erp.example.com/"})}
    environment = SinkEnvironment.from_env(env, stack=offer)
    assert environment.endpoints.api_url("erp") == "https://erp.example.com"
    assert SinkEnvironment.from_env({}, stack=offer).endpoints.api_url("erp") == "http://offered:1"
    assert str(environment.bootstrap).startswith("offered:9092")


def test_no_cluster_is_named_when_a_sink_would_consume() -> None:
    with pytest.raises(SinkSettingsError, match="ISTHMUS_KAFKA_BOOTSTRAP_SERVERS"):
        _ = SinkEnvironment.from_env({}).bootstrap
