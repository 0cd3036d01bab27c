"""Fixtures for capture tests: a copy of connect-configs to edit, and the stack variables to render it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.cli.main import main
from streams.stack.offer import stack_variables
from streams.stack.running import RunningStack
from streams.stack.secrets import Secret, StackSecrets
from streams.stack.settings import StackSettings


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    """A private copy of the real connect-configs folder."""
    root = tmp_path / "connect-configs"
    shutil.copytree(configs.DEFAULT_ROOT, root)
    return root


@pytest.fixture
def unit_secrets(tmp_path: Path) -> StackSecrets:
    return StackSecrets(path=tmp_path / "home" / "secrets" / "stack.properties",
                        crm_db_password=Secret("unit-crm"), erp_db_password=Secret("unit-erp"),
                        tryton_admin_password=Secret("unit-tryton"))


@pytest.fixture
def variables(unit_secrets: StackSecrets) -> dict[str, str]:
    return stack_variables(StackSettings(), unit_secrets)


def run_cli(*argv: str) -> tuple[int, Any]:
    """Run `isthmus ARGV --json` in-process; the exit code and the parsed JSON document (or None)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json"])
    text = out.getvalue().strip()
    return code, json.loads(text) if text else None


@pytest.fixture(scope="session")
def connect(stack: RunningStack) -> Iterator[ConnectClient]:
    with ConnectClient(stack.settings.connect_url) as client:
        yield client


@pytest.fixture(scope="session")
def deployed(reference_capture: dict[str, Any]) -> dict[str, Any]:
    """crm-source and erp-source deployed from connect-configs/ through the CLI, and RUNNING."""
    return reference_capture


def drop_slot_when_released(stack: RunningStack, slot: str) -> None:
    """Drop a test's replication slot once its deleted connector's task has let go of it."""
    with stack.connect_crm(autocommit=True) as conn:
        for _ in range(60):
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (slot,)).fetchone()
            if row is None:
                return
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                return
            conn.execute("SELECT pg_sleep(0.5)")


def delete_topics_of(stack: RunningStack, prefix: str) -> None:
    """Delete the topics of a test's own connector (every topic whose name holds its topic prefix)."""
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    try:
        doomed = [t for t in admin.list_topics() if prefix in t]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()
