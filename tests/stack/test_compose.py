"""docker-compose.yml describes the same stack as `isthmus up`: same services, loopback ports and settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.stack.services import SERVICE_TYPES
from streams.stack.settings import PROJECT_ROOT, StackSettings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DEFAULTS = StackSettings(home=Path("/nonexistent"))
HOST_PORTS = {
    "kafka": DEFAULTS.kafka_port,
    "connect": DEFAULTS.connect_port,
    "crm-db": DEFAULTS.crm_db_port,
    "erp-db": DEFAULTS.erp_db_port,
    "crm-api": DEFAULTS.crm_api_port,
    "erp-api": DEFAULTS.erp_api_port,
}


def _pom_property(name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</", (PROJECT_ROOT / "stack/maven/pom.xml").read_text())
    assert match, name
    return match.group(1)


def _dependency_version(module: str, artifact: str) -> str:
    text = (PROJECT_ROOT / f"stack/maven/{module}/pom.xml").read_text()
    match = re.search(rf"<artifactId>{artifact}</artifactId><version>([^<]+)</version>", text)
    assert match, (module, artifact)
    return match.group(1)


def test_every_local_service_is_in_compose() -> None:
    assert {t.name for t in SERVICE_TYPES} <= set(SERVICES)


@pytest.mark.parametrize(("service", "port"), sorted(HOST_PORTS.items()))
def test_ports_are_the_local_defaults_on_loopback(service: str, port: int) -> None:
    published = SERVICES[service]["ports"]
    assert any(p.startswith(f"127.0.0.1:{port}:") for p in published), published
    assert all(p.startswith("127.0.0.1:") for p in published), "every port must be published on loopback only"


def test_versions_match_the_jars_of_the_local_stack() -> None:
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{_pom_property('kafka.version')}"
    postgres_connector = _dependency_version("debezium-postgres", "debezium-connector-postgres")
    assert SERVICES["connect"]["image"] == f"quay.io/debezium/connect:{postgres_connector}"
    assert SERVICES["crm-db"]["image"].startswith("postgres:15")
    assert SERVICES["erp-db"]["image"].startswith("mariadb:10.11")


def test_database_settings_match() -> None:
    crm = SERVICES["crm-db"]["command"]
    assert "wal_level=logical" in crm
    erp = SERVICES["erp-db"]["command"]
    for option in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--log-bin", "--gtid-strict-mode=ON"):
        assert option in erp
    assert SERVICES["crm-db"]["environment"]["POSTGRES_DB"] == DEFAULTS.crm_db_name
    assert SERVICES["erp-db"]["environment"]["MARIADB_DATABASE"] == DEFAULTS.erp_db_name
    assert SERVICES["erp-db"]["environment"]["MARIADB_USER"] == DEFAULTS.db_user


def test_kafka_and_connect_settings_match() -> None:
    kafka = SERVICES["kafka"]["environment"]
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert kafka[key] == "1"
    connect = SERVICES["connect"]["environment"]
    assert connect["CONNECT_CONFIG_PROVIDERS"] == "env,file"
    assert connect["CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT"] == "enabled"
    assert connect["GROUP_ID"] == "isthmus-connect"
    assert connect["CONFIG_STORAGE_TOPIC"] == "_isthmus.connect.configs"


NOT_SECRETS = {"MARIADB_RANDOM_ROOT_PASSWORD"}  # a switch: the image makes up a root password nobody needs


def test_no_secret_is_written_into_compose() -> None:
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for match in re.finditer(r"^\s*([A-Z_]*(?:PASSWORD|SECRET|TOKEN))\s*:\s*(\S+)", text, re.MULTILINE):
        if match.group(1) in NOT_SECRETS:
            continue
        assert match.group(2).startswith("${"), f"literal secret in docker-compose.yml: {match.group(0)}"
