"""`isthmus up crm-api erp-api` beside your own Kafka and Connect: it says what runs and where yours are set, its
runtime.yaml offers no address of the Kafka and Connect it never started, and the ERP user's password stays out
of MariaDB's binlog (CREATE/ALTER USER ... IDENTIFIED BY is logged with it, in a file of mode 0660)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli.stack_commands import up_message
from streams.stack.offer import write_offer
from streams.stack.progress import Progress
from streams.stack.secrets import load_or_create
from streams.stack.services.base import ServiceContext
from streams.stack.services.erp_db import ErpDatabase
from streams.stack.settings import StackSettings

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path) -> StackSettings:
    return StackSettings.from_env({"ISTHMUS_HOME": str(tmp_path), "ISTHMUS_KAFKA_PORT": "25092",
                                   "ISTHMUS_CONNECT_PORT": "25083"})


def test_up_without_the_stacks_kafka_and_connect_points_at_your_settings_not_their_ports(tmp_path: Path) -> None:
    said = up_message(["crm-db", "erp-db", "crm-api", "erp-api"], "/srv/isthmus/runtime.yaml")
    assert said.startswith("stack is up (crm-db, erp-db, crm-api, erp-api);")
    assert "its kafka and connect are not running: set yours with ISTHMUS_KAFKA_BOOTSTRAP_SERVERS and " \
           "ISTHMUS_CONNECT_URLS (or a --config file), or start the stack's with `isthmus up kafka connect`" in said
    assert "(Kafka, Connect)" not in said and "25092" not in said
    assert "not running" not in up_message(["kafka", "connect"], "/srv/isthmus/runtime.yaml")

    path = write_offer(_settings(tmp_path), ["crm-db", "erp-db", "crm-api", "erp-api"])
    offer = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "it holds the database passwords"
    assert "connect" not in offer and "bootstrap_servers" not in offer["kafka"]
    assert "25092" not in path.read_text(encoding="utf-8") and "25083" not in path.read_text(encoding="utf-8")
    assert offer["endpoints"]["api_urls"]["crm"].startswith("http://127.0.0.1:")
    full = yaml.safe_load(write_offer(_settings(tmp_path)).read_text(encoding="utf-8"))
    assert full["kafka"]["bootstrap_servers"] == ["127.0.0.1:25092"]
    assert full["connect"]["urls"] == ["http://127.0.0.1:25083"]


class _Cursor:
    def __init__(self, statements: list[str]) -> None:
        self.statements = statements

    def execute(self, sql: str, args: Any = None) -> None:
        self.statements.append(sql)

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Root:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self.statements)

    def __enter__(self) -> _Root:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_erp_users_password_is_set_with_the_binlog_off_for_that_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)
    service = ErpDatabase(ServiceContext(settings=settings, secrets=load_or_create(settings.home), toolchain=None,
                                         progress=Progress()))
    root = _Root()
    monkeypatch.setattr(service, "root", lambda database=None: root)
    service.bootstrap()
    off = root.statements.index("SET SESSION sql_log_bin = 0")
    with_password = [i for i, sql in enumerate(root.statements) if "IDENTIFIED BY" in sql]
    assert with_password and off < min(with_password)
    assert root.statements[0].startswith("CREATE DATABASE"), "the database itself is still logged"
