"""The Connect worker's properties, built once (streams/stack/services/connect_worker.py) for the local stack,
the secured test cluster and the chaos cluster: what each must keep, and a clear error for a wrong provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.stack.services.connect import INTERNAL_TOPICS, OFFSETS_TOPIC
from streams.stack.services.connect_worker import worker_properties

pytestmark = pytest.mark.unit


def _worker(**given: object) -> dict[str, str | int]:
    arguments: dict[str, object] = {
        "bootstrap": "127.0.0.1:19092", "group": "isthmus-connect", "topics": INTERNAL_TOPICS, "replication": 1,
        "host": "127.0.0.1", "port": 18083, "plugins": Path("/jars/plugins"), "allowed_paths": (Path("/secrets"),)}
    arguments.update(given)
    return worker_properties(**arguments)  # type: ignore[arg-type]


def test_the_local_worker_keeps_its_internal_topics_and_exactly_once_sources() -> None:
    properties = _worker()
    assert properties["offset.storage.topic"] == OFFSETS_TOPIC == "_isthmus.connect.offsets"
    assert properties["config.storage.topic"] == "_isthmus.connect.configs"
    assert properties["status.storage.topic"] == "_isthmus.connect.status"
    assert {properties[f"{k}.storage.replication.factor"] for k in ("offset", "config", "status")} == {1}
    assert properties["exactly.once.source.support"] == "enabled"
    assert properties["key.converter"] == properties["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert properties["key.converter.schemas.enable"] == properties["value.converter.schemas.enable"] == "true"
    assert properties["listeners"] == "http://127.0.0.1:18083"
    assert properties["config.providers"] == "env,file"
    assert properties["config.providers.file.param.allowed.paths"] == "/secrets"


def test_a_secured_worker_reads_secrets_from_files_only_and_its_clients_log_in() -> None:
    login = {f"{p}security.protocol": "SASL_SSL" for p in ("", "producer.", "consumer.", "admin.")}
    properties = _worker(group="isthmus-test-connect", topics="_isthmus-test-connect", replication=3,
                         providers=("file",), clients=login,
                         allowed_paths=(Path("/a"), Path("/b")))
    assert properties["config.providers"] == "file"
    assert "config.providers.env.class" not in properties
    assert properties["config.providers.file.param.allowed.paths"] == "/a,/b"
    assert properties["offset.storage.topic"] == "_isthmus-test-connect.offsets"
    assert properties["status.storage.replication.factor"] == 3
    assert {k: properties[k] for k in login} == login


def test_an_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown Connect config providers vault; known: env, file"):
        _worker(providers=("file", "vault"))
