"""The runtime settings model: sources layered env > file > stack > default, origins, secrets, Kafka keywords."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from streams.config import KafkaSettings, RuntimeConfigError, RuntimeSettings, client_kwargs, producer_kwargs
from streams.config.show import effective, render

pytestmark = pytest.mark.unit

STACK = {"kafka": {"bootstrap_servers": ["127.0.0.1:19092"]}, "connect": {"urls": ["http://127.0.0.1:18083"]}}


def test_each_value_says_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "isthmus.yaml"
    config.write_text("kafka:\n  bootstrap_servers: [b1:9093, b2:9093]\n  replication_factor: 3\n"
                      "connect:\n  urls: https://connect:8083/\n", encoding="utf-8")
    env = {"ISTHMUS_KAFKA_REPLICATION_FACTOR": "2", "ISTHMUS_KAFKA_PORT": "1"}  # a stack variable is not ours
    settings = RuntimeSettings.load(env, config_file=config, stack=STACK)
    assert settings.kafka.bootstrap_servers == ["b1:9093", "b2:9093"]
    assert settings.kafka.replication_factor == 2
    assert settings.connect.urls == ["https://connect:8083"]
    origins = settings.origins
    assert origins[("kafka", "bootstrap_servers")] == "file"
    assert origins[("kafka", "replication_factor")] == "env"
    assert origins[("kafka", "security_protocol")] == "default"
    assert RuntimeSettings.load({}, stack=STACK).origins[("kafka", "bootstrap_servers")] == "stack"


def test_a_bad_file_names_its_line_and_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "isthmus.yaml"
    config.write_text("kafka:\n  bootstrap_servers: b1\n  sasl_pasword: x\nkafak: {}\n", encoding="utf-8")
    with pytest.raises(RuntimeConfigError) as caught:
        RuntimeSettings.load({}, config_file=config, stack=STACK)
    message = str(caught.value)
    assert f"{config}:3: kafka.sasl_pasword: is not a setting" in message and "sasl_password" in message
    assert (f"{config}:4: kafak: is not a section (fix: use one of kafka, connect, dirs, endpoints, capture, "
            "worker, sink, warehouse, dashboard)") in message
    config.write_text("kafka:\n  bootstrap_servers: b1\n", encoding="utf-8")
    with pytest.raises(RuntimeConfigError) as caught:
        RuntimeSettings.load({}, config_file=config, stack=STACK)
    assert f"{config}:2: kafka.bootstrap_servers: 'b1' is not host:port" in str(caught.value)


def test_sasl_needs_its_credentials_and_every_problem_is_named() -> None:
    env = {"ISTHMUS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "ISTHMUS_CONNECT_URLS": "ftp://x"}
    with pytest.raises(RuntimeConfigError) as caught:
        RuntimeSettings.load(env, stack=STACK)
    message = str(caught.value)
    assert "kafka: security_protocol SASL_SSL needs sasl_mechanism, sasl_username and sasl_password" in message
    assert "ISTHMUS_CONNECT_URLS: 'ftp://x' is not an http(s) URL" in message
    with pytest.raises(RuntimeConfigError, match="ISTHMUS_CONNECT_URLS is required"):
        RuntimeSettings.load({})


def test_secrets_from_files_are_shown_as_stars(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n", encoding="utf-8")
    env = {"ISTHMUS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ISTHMUS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "ISTHMUS_KAFKA_SASL_USERNAME": "isthmus", "ISTHMUS_KAFKA_SASL_PASSWORD_FILE": str(secret),
           "ISTHMUS_CONNECT_USERNAME": "admin", "ISTHMUS_CONNECT_PASSWORD": "c0nnect"}
    settings = RuntimeSettings.load(env, stack=STACK)
    assert settings.kafka.sasl_password is not None and settings.kafka.sasl_password.get_secret_value() == "s3cret"
    assert settings.origins[("kafka", "sasl_password")] == "env"
    text = "\n".join(render(effective(settings)))
    assert "s3cret" not in text and "c0nnect" not in text
    assert "ISTHMUS_KAFKA_SASL_PASSWORD " in text and "***" in text
    assert settings.connect.http_options()["auth"] == ("admin", "c0nnect")
    kwargs = client_kwargs(settings.kafka)
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_password"] == "s3cret"
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in kwargs
    missing = {**env, "ISTHMUS_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "absent")}
    with pytest.raises(RuntimeConfigError, match=r"cannot read the SASL password file .*absent"):
        RuntimeSettings.load(missing, stack=STACK)


def test_tls_gets_a_context_and_plain_gets_none() -> None:
    tls = KafkaSettings.model_validate({"bootstrap_servers": "b1:9093,b2:9093", "security_protocol": "SSL"})
    kwargs = client_kwargs(tls)
    assert kwargs["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert client_kwargs("127.0.0.1:19092") == {"bootstrap_servers": ["127.0.0.1:19092"],
                                                "security_protocol": "PLAINTEXT"}
    with pytest.raises(ValueError, match="TLS files are set but security_protocol is PLAINTEXT"):
        KafkaSettings.model_validate({"bootstrap_servers": "b:1", "ssl_cafile": "/etc/hosts"})


def test_created_topics_take_min_insync() -> None:
    kafka = KafkaSettings.model_validate({"bootstrap_servers": "b:1", "replication_factor": 3,
                                          "min_insync_replicas": 2})
    assert kafka.topic_config() == {"min.insync.replicas": "2"}
    assert KafkaSettings.plain("b:1").topic_config() == {}


def test_producers_compress_with_the_configured_codec() -> None:
    assert producer_kwargs("127.0.0.1:19092") == {"bootstrap_servers": ["127.0.0.1:19092"],
                                                  "security_protocol": "PLAINTEXT", "compression_type": None}
    zstd = RuntimeSettings.load({"ISTHMUS_KAFKA_COMPRESSION_TYPE": "zstd"}, stack=STACK)
    assert producer_kwargs(zstd.kafka)["compression_type"] == "zstd"
    assert zstd.origins[("kafka", "compression_type")] == "env"
    lz4 = KafkaSettings.model_validate({"bootstrap_servers": "b:1", "compression_type": "lz4"})
    assert producer_kwargs(lz4)["compression_type"] == "lz4"
    assert "compression_type" not in client_kwargs(lz4)  # a consumer takes no codec: it reads every one
    with pytest.raises(RuntimeConfigError, match="ISTHMUS_KAFKA_COMPRESSION_TYPE") as caught:
        RuntimeSettings.load({"ISTHMUS_KAFKA_COMPRESSION_TYPE": "brotli"}, stack=STACK)
    assert "'lz4'" in str(caught.value) and "unset it to use none" in str(caught.value)
