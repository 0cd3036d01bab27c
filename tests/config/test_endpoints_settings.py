"""The endpoints and capture sections: what the stack used to hand the runtime directly, now settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.config.endpoints import EndpointError, EndpointSettings, mysql_connect
from streams.config.model import RuntimeSettings
from streams.config.show import effective
from streams.stack.offer import runtime_offer
from streams.stack.settings import StackSettings

pytestmark = pytest.mark.unit

SERVER = "host=db.example.com port=6432 user=isthmus password=s3cret dbname=main"
KAFKA = {"ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "b1:9092", "ISTHMUS_CONNECT_URLS": "http://c1:8083"}


def test_a_database_is_the_server_of_its_engine_on_the_database_asked_for() -> None:
    endpoints = EndpointSettings.from_env({"ISTHMUS_ENDPOINTS_DATABASES": json.dumps({"postgresql": SERVER})})
    assert "dbname=ledger" in endpoints.dsn("postgresql", "ledger")
    assert "dbname=main" in endpoints.dsn("postgresql") and "password=s3cret" in endpoints.dsn("postgresql")
    with pytest.raises(EndpointError, match=r"no mariadb server .* ISTHMUS_ENDPOINTS_DATABASES"):
        endpoints.dsn("mariadb")


def test_mysql_keywords_come_from_a_libpq_string() -> None:
    assert mysql_connect("host=h port=3307 user=u password=p dbname=d connect_timeout=5") == {
        "host": "h", "port": 3307, "user": "u", "password": "p", "database": "d", "connect_timeout": 5}
    assert mysql_connect("host=h user=u")["port"] == 3306


def test_bad_endpoints_name_the_variable_and_the_fix() -> None:
    with pytest.raises(EndpointError) as caught:
        EndpointSettings.from_env({"ISTHMUS_ENDPOINTS_DATABASES": json.dumps({"oracle": SERVER}),
                                   "ISTHMUS_ENDPOINTS_API_URLS": json.dumps({"crm": "ftp://x"})})
    message = str(caught.value)
    assert "ISTHMUS_ENDPOINTS_DATABASES" in message and "'oracle' is not a database engine" in message
    assert "ISTHMUS_ENDPOINTS_API_URLS" in message and "is not an http(s) URL" in message
    assert "s3cret" not in message


def test_config_show_hides_every_database_password(tmp_path: Path) -> None:
    env = {**KAFKA, "ISTHMUS_ENDPOINTS_DATABASES": json.dumps({"postgresql": SERVER, "mariadb": SERVER})}
    shown = {(row.section, row.key): row for row in effective(RuntimeSettings.load(env))}
    assert shown[("endpoints", "databases")].value == "postgresql=***,mariadb=***"
    assert shown[("endpoints", "databases")].origin == "env"
    assert not any("s3cret" in (row.value or "") for row in shown.values())


def test_the_stack_offers_what_the_runtime_used_to_take_from_it(tmp_path: Path) -> None:
    stack = StackSettings(home=tmp_path / "home")
    runtime = RuntimeSettings.load({}, stack=runtime_offer(stack))
    assert runtime.endpoints.api_url("erp") == stack.erp_api_url
    assert f"port={stack.crm_db_port}" in runtime.endpoints.dsn("postgresql")
    assert mysql_connect(runtime.endpoints.dsn("mariadb", "ledger"))["database"] == "ledger"
    assert runtime.endpoints.secrets_file == tmp_path / "home" / "secrets" / "stack.properties"
    assert runtime.capture.variables["crm_db_port"] == str(stack.crm_db_port)
    assert runtime.kafka.tools_dir == stack.jars_dir / "kafka"
    assert runtime.worker.state_dir == tmp_path / "home" / "state"
    assert runtime.origins[("capture", "variables")] == "stack"
    override = RuntimeSettings.load({"ISTHMUS_CAPTURE_VARIABLES": json.dumps({"host": "db.internal"})},
                                    stack=runtime_offer(stack))
    assert override.capture.variables == {"host": "db.internal"}, "the environment's mapping replaces the offer's"
