"""`isthmus status` with your own Kafka and Connect beside a local stack that runs only the databases and APIs
(`isthmus up crm-api erp-api`): the stack's Kafka and Connect are not used, so they are shown as such and not
judged (it said "NOT HEALTHY: local stack: kafka stopped, connect stopped", exit 1, whatever ran)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from streams.capture.client import ConnectorState, TaskState
from streams.cli import stack_commands
from streams.inspect import health
from streams.stack.manager import ServiceStatus
from streams.stack.settings import StackSettings

pytestmark = pytest.mark.unit


def _service(name: str, running: bool, address: str) -> ServiceStatus:
    return ServiceStatus(name=name, state="running" if running else "stopped", pid=4242 if running else None,
                         address=address, log=f"/srv/isthmus/logs/{name}.log")


class _Manager:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings

    def status(self) -> list[ServiceStatus]:
        return [_service("crm-db", True, "postgresql://127.0.0.1:25432/crm"),
                _service("kafka", False, "127.0.0.1:25092"), _service("connect", False, "http://127.0.0.1:25083"),
                _service("billing-api", True, "http://127.0.0.1:25001")]


def _status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], *,
            settings: bool = False) -> tuple[int, list[str]]:
    monkeypatch.setenv("ISTHMUS_HOME", str(tmp_path))
    monkeypatch.setenv("ISTHMUS_KAFKA_PORT", "25092")
    monkeypatch.setenv("ISTHMUS_CONNECT_PORT", "25083")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    given: dict[str, Any] = {}

    def gather(runtime: object, **kwargs: Any) -> health.Pipeline:
        given.update(kwargs)
        running = ConnectorState(name="billing-source", type="source", state="RUNNING", worker_id="c:8083",
                                 tasks=(TaskState(id=0, state="RUNNING", worker_id="c:8083"),))
        return health.Pipeline(kafka="kafka", connect="connect", connectors=(running,),
                               stack=tuple(kwargs["stack"]), stack_home=kwargs["stack_home"])

    lines: list[str] = []
    monkeypatch.setattr(stack_commands, "StackManager", _Manager)
    monkeypatch.setattr(stack_commands, "gather", gather)
    monkeypatch.setattr("builtins.print", lambda text, **_: lines.extend(str(text).splitlines()))
    code = stack_commands.run_status(argparse.Namespace(json=False, settings=settings, stall_after=120.0,
                                                        config=None))
    # the local stack's lines, as "<service> <state>"
    return code, [" ".join(line.split("  pid ")[0].split()) if line.startswith("  ") else line for line in lines]


def test_your_own_kafka_and_connect_leave_the_stacks_unjudged_and_shown_as_not_used(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, lines = _status(monkeypatch, tmp_path, {"ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "localhost:36092",
                                                  "ISTHMUS_CONNECT_URLS": "https://127.0.0.1:36443"})
    assert lines[1:5] == ["crm-db running", "kafka not used", "connect not used", "billing-api running"]
    assert (code, lines[-1]) == (health.EXIT_HEALTHY, "healthy")


def test_the_stacks_own_kafka_stopped_is_still_a_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, lines = _status(monkeypatch, tmp_path, {"ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "localhost:25092",
                                                  "ISTHMUS_CONNECT_URLS": "https://connect.example.com:8083"})
    assert lines[2:4] == ["kafka stopped", "connect not used"]
    assert code == health.EXIT_UNHEALTHY and "local stack: kafka stopped" in lines[-1]


def test_the_text_form_shows_a_service_not_used() -> None:
    pipeline = health.Pipeline(kafka="b:9093", connect="https://c:8083", stack_home="/srv/isthmus", stack=(
        {"name": "kafka", "state": "stopped", "pid": None, "address": "127.0.0.1:19092", "used": False},
        {"name": "crm-db", "state": "running", "pid": 7, "address": "postgresql://127.0.0.1:15432/crm"}))
    result = health.verdict(pipeline)
    assert not any("local stack" in problem for problem in result.problems)
    assert health.render(pipeline, result)[1:3] == ["  kafka   not used   pid -        127.0.0.1:19092",
                                                    "  crm-db  running    pid 7        postgresql://127.0.0.1:15432/crm"]
    assert health.document(pipeline, result)["stack"]["services"][0]["used"] is False


def test_settings_from_the_config_file_are_shown_with_their_value_and_origin(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`status --settings` showed every Kafka and Connect setting of a --config file as (default)."""
    config = tmp_path / "isthmus.yaml"
    config.write_text("kafka:\n  bootstrap_servers: [localhost:36092]\n  sasl_password: s3cret\n"
                      "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n  sasl_username: isthmus\n"
                      "connect:\n  urls: [https://127.0.0.1:36443]\n", encoding="utf-8")
    _, lines = _status(monkeypatch, tmp_path, {"ISTHMUS_CONFIG": str(config), "ISTHMUS_KAFKA_REPLICATION_FACTOR": "3"},
                       settings=True)
    shown = {line.split()[0]: line.split()[1:3] for line in lines if line.startswith("ISTHMUS_")}
    assert shown["ISTHMUS_KAFKA_BOOTSTRAP_SERVERS"] == ["localhost:36092", "[file]"]
    assert shown["ISTHMUS_CONNECT_URLS"] == ["https://127.0.0.1:36443", "[file]"]
    assert shown["ISTHMUS_KAFKA_SASL_PASSWORD"] == ["***", "[file]"]
    assert shown["ISTHMUS_KAFKA_REPLICATION_FACTOR"] == ["3", "[env]"]
    assert shown["ISTHMUS_KAFKA_TOOLS_DIR"][1] == "[stack]", "the stack's offer, as `config show` says"
    assert shown["ISTHMUS_KAFKA_SSL_CAFILE"][0] == "(default)"
    assert shown["ISTHMUS_CONFIG"][0] == str(config)
    assert not any("s3cret" in line for line in lines)


def test_services_never_started_here_are_shown_and_not_judged(tmp_path: Path) -> None:
    """`isthmus up kafka connect crm-db` for systems of your own: the stack's other services, never started in this
    home, made status say NOT HEALTHY ("local stack: erp-db stopped, crm-api stopped, ...") whatever ran."""
    from streams.stack.manager import NOT_STARTED, StackManager

    home = tmp_path / "home"
    states = {s.name: s.state for s in StackManager(StackSettings(home=home)).status()}
    assert set(states.values()) == {NOT_STARTED}
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "erp-db.log").write_text("ran once\n", encoding="utf-8")
    assert {s.name: s.state for s in StackManager(StackSettings(home=home)).status()}["erp-db"] == "stopped"

    pipeline = health.Pipeline(kafka="127.0.0.1:19092", connect="http://127.0.0.1:19083", stack_home=str(home), stack=(
        {"name": "crm-db", "state": "running", "pid": 7, "address": "postgresql://127.0.0.1:15432/crm"},
        {"name": "crm-api", "state": NOT_STARTED, "pid": None, "address": "http://127.0.0.1:18001"},
        {"name": "erp-db", "state": "stopped", "pid": None, "address": "mysql://127.0.0.1:13306/erp"}))
    result = health.verdict(pipeline)
    assert [p for p in result.problems if p.startswith("local stack")] == ["local stack: erp-db stopped"]
    assert health.render(pipeline, result)[2] == "  crm-api  not started  pid -        http://127.0.0.1:18001"
