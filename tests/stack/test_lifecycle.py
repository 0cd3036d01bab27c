"""`isthmus up`, `status --json` and `down` on a second stack of its own (own home, own free ports), so the
session's stack stays up: up is idempotent, every service is healthy, and down leaves no process behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import free_ports

from streams.stack.running import RunningStack
from streams.stack.services import SERVICE_TYPES
from streams.stack.settings import SETTINGS

pytestmark = [pytest.mark.integration, pytest.mark.beside]

PORT_SETTINGS = ("kafka_port", "kafka_controller_port", "connect_port", "crm_db_port", "erp_db_port",
                 "crm_api_port", "erp_api_port")


@pytest.fixture
def second_stack_env() -> Iterator[dict[str, str]]:
    # /var/tmp, not pytest's private tmp_path: PostgreSQL runs as the postgres user and must reach its data.
    home = Path("/var/tmp") / f"isthmus-lifecycle-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISTHMUS_")}
    env["ISTHMUS_HOME"] = str(home)
    env.update({SETTINGS[name].env: str(port) for name, port in zip(PORT_SETTINGS, free_ports(7), strict=True)})
    yield env
    subprocess.run([sys.executable, "-m", "streams.cli.main", "down"], env=env, capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def _isthmus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def test_up_status_down(stack: RunningStack, second_stack_env: dict[str, str]) -> None:
    del stack  # the session stack must keep running beside this one; it is only requested for ordering
    first = _isthmus(second_stack_env, "up")
    assert first.returncode == 0, first.stderr[-3000:]

    again = _isthmus(second_stack_env, "up")
    assert again.returncode == 0, again.stderr[-3000:]
    for service in SERVICE_TYPES:
        assert f"{service.name}: already running" in again.stderr

    # status reports the whole pipeline: this stack runs, but nothing is deployed on it (exit 1), and no
    # problem is the stack's own
    status = _isthmus(second_stack_env, "status", "--json")
    document = json.loads(status.stdout)
    services = document["stack"]["services"]
    assert {s["name"]: s["state"] for s in services} == {t.name: "running" for t in SERVICE_TYPES}
    assert status.returncode == 1 and "no connector deployed" in document["problems"], status.stdout
    assert not [p for p in document["problems"] if p.startswith(("local stack", "Kafka"))], document["problems"]
    pids = [s["pid"] for s in services]

    down = _isthmus(second_stack_env, "down")
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()
                and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert _processes_mentioning(second_stack_env["ISTHMUS_HOME"]) == []
    stopped = json.loads(_isthmus(second_stack_env, "status", "--json").stdout)
    assert stopped["healthy"] is False
    assert {s["state"] for s in stopped["stack"]["services"]} == {"stopped"}
