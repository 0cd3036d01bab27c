"""A binlog connector's schema history reaches the Kafka the settings configure, logged in as that Kafka asks.

A trial deployed the connectors to its own Kafka and Connect (``kafka.bootstrap_servers: localhost:36092`` in its
config file) while a local stack ran: ``{{kafka_bootstrap_servers}}`` came from the stack's offer
(``127.0.0.1:35092``), so the history was kept on the stack's broker, and `isthmus connectors validate` said valid.
The second pair's Ledger stands in for the ERP here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from secured_cluster.pair import SECOND_PAIR

from streams.capture import configs, schema_history
from streams.capture.validation import check_local, history_warnings
from streams.cli.main import main
from streams.config import RuntimeSettings
from streams.stack.offer import runtime_offer
from streams.stack.settings import StackSettings

PAIR_CONFIGS = SECOND_PAIR / "connect-configs"
PLATFORM = "localhost:36092"


def _runtime(tmp_path: Path, kafka: dict[str, object]) -> RuntimeSettings:
    config = tmp_path / "isthmus.yaml"
    config.write_text(yaml.safe_dump({"kafka": kafka}), encoding="utf-8")
    stack = StackSettings(home=tmp_path / "home", kafka_port=35092)
    return RuntimeSettings.load({}, config_file=config, stack=runtime_offer(stack))


def test_the_schema_history_follows_the_configured_kafka_not_the_stacks(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, {"bootstrap_servers": [PLATFORM]})
    ledger = configs.load(PAIR_CONFIGS, env="local").render("ledger-source", runtime.connector_variables)
    assert not ledger.problems
    assert ledger.config[schema_history.BOOTSTRAP_SERVERS] == PLATFORM
    assert history_warnings(ledger, runtime.kafka.bootstrap_servers) == []
    alone = RuntimeSettings.load({}, stack=runtime_offer(StackSettings(home=tmp_path / "home", kafka_port=35092)))
    assert alone.connector_variables["kafka_bootstrap_servers"] == "127.0.0.1:35092", "no Kafka set: the stack's"


def test_an_explicit_address_for_connect_wins_and_validate_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Connect may reach the brokers under another name (a compose network, a proxy): an overlay's (or
    ``capture.variables``') ``kafka_bootstrap_servers`` is kept, and `connectors validate` says it differs."""
    root = tmp_path / "connect-configs"
    (root / "overlays").mkdir(parents=True)
    (root / "connectors").mkdir()
    ledger = (PAIR_CONFIGS / "connectors" / "ledger-source.yaml").read_text(encoding="utf-8")
    (root / "connectors" / "ledger-source.yaml").write_text(ledger, encoding="utf-8")
    (root / "overlays" / "platform.yaml").write_text(
        "variables: {erp_db_host: '{{host}}', kafka_bootstrap_servers: 127.0.0.1:35092}\n", encoding="utf-8")
    config = tmp_path / "isthmus.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": [PLATFORM]}}), encoding="utf-8")
    for name in ("ISTHMUS_KAFKA_BOOTSTRAP_SERVERS", "ISTHMUS_CAPTURE_VARIABLES", "ISTHMUS_SYSTEMS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISTHMUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ISTHMUS_CONFIG", str(config))
    code = main(["connectors", "validate", "--offline", "--configs", str(root), "--env", "platform", "--json"])
    [report] = json.loads(capsys.readouterr().out)["connectors"]
    assert code == 0 and report["valid"], report
    [warning] = [w for w in report["warnings"] if w["key"] == schema_history.BOOTSTRAP_SERVERS]
    assert warning["message"].startswith(f"is '127.0.0.1:35092', not the configured Kafka ({PLATFORM}")
    assert "{{kafka_bootstrap_servers}}" in warning["fix"]


def test_the_same_brokers_under_a_loopback_alias_are_no_other_kafka(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, {"bootstrap_servers": ["127.0.0.1:36092", "broker-2:9093"]})
    variables = {**runtime.connector_variables, "kafka_bootstrap_servers": "localhost:36092"}
    ledger = configs.load(PAIR_CONFIGS, env="local").render("ledger-source", variables)
    assert history_warnings(ledger, runtime.kafka.bootstrap_servers) == []


def test_the_secured_overlay_logs_the_history_in_from_the_kafka_settings(tmp_path: Path) -> None:
    """The shipped `secured` overlay gives the history's clients the Kafka settings' protocol, mechanism and CA, and
    Connect's login as a ``${file:...}`` reference: rendered whole, nothing literal a secret check refuses."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    runtime = _runtime(tmp_path, {"bootstrap_servers": ["kafka-1:9093"], "security_protocol": "SASL_SSL",
                                  "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "isthmus",
                                  "sasl_password": "not-in-any-config", "ssl_cafile": str(ca)})
    erp = configs.load(env="secured").render("erp-source", runtime.connector_variables)
    assert not erp.problems and check_local(erp) == []
    for client in ("producer", "consumer"):
        prefix = f"schema.history.internal.{client}."
        assert erp.config[prefix + "security.protocol"] == "SASL_SSL"
        assert erp.config[prefix + "sasl.mechanism"] == "SCRAM-SHA-512"
        assert erp.config[prefix + "ssl.truststore.location"] == str(ca)
        assert erp.config[prefix + "sasl.jaas.config"] == \
            "${file:/etc/kafka-connect/secrets/kafka-login.properties:sasl.jaas.config}"
    assert erp.config[schema_history.BOOTSTRAP_SERVERS] == "kafka-1:9093"
    assert not any("not-in-any-config" in value for value in erp.config.values())
    plain = RuntimeSettings.load({}, stack=runtime_offer(StackSettings(home=tmp_path / "home")))
    unsecured = configs.load(env="secured").render("erp-source", plain.connector_variables)
    assert {p.message for p in unsecured.problems} == {"placeholder {{kafka_sasl_mechanism}} is not defined",
                                                       "placeholder {{kafka_ssl_cafile}} is not defined"}
