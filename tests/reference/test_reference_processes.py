"""The entry points the stack runs: ``python -m reference.crm`` and ``python -m reference.erp``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from reference_support import Place, isolated_place
from support.ports import free_port
from support.waiting import eventually

from streams.stack.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]



def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFERENCE_")}
    return {**env, **extra}


def _run(module: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=_env(extra), capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def place(stack: RunningStack) -> Iterator[Place]:
    with isolated_place(stack, "proc") as created:
        yield created


@pytest.mark.parametrize("module", ["reference.crm", "reference.erp"])
def test_the_entry_point_serves_health_and_openapi(place: Place, module: str) -> None:
    port = free_port()
    env = (place.crm_env() if module == "reference.crm" else place.erp_env()) | {
        "REFERENCE_HTTP_PORT": str(port)
    }
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        def answers() -> httpx.Response:
            assert process.poll() is None, f"{module} exited: {process.stdout.read() if process.stdout else ''}"
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)

        health = eventually(f"{module} answering /health", answers, timeout=60, every=0.2,
                            ignoring=(httpx.TransportError,))
        document = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert document["info"]["title"] == ("Reference CRM" if module == "reference.crm" else "Reference ERP")


@pytest.mark.parametrize("module", ["reference.crm", "reference.erp"])
def test_a_missing_password_is_a_clear_error(module: str) -> None:
    result = _run(module, {})

    assert result.returncode == 2
    assert "REFERENCE_DB_PASSWORD is not set" in result.stderr


def test_a_non_loopback_host_is_refused() -> None:
    result = _run(
        "reference.crm",
        {"REFERENCE_HTTP_HOST": "0.0.0.0", "REFERENCE_DB_PASSWORD": "x", "REFERENCE_HTTP_PORT": "70000"},
    )

    assert result.returncode == 2
    assert "REFERENCE_HTTP_HOST='0.0.0.0' is not a loopback address" in result.stderr
    assert "REFERENCE_HTTP_PORT='70000' is not a port" in result.stderr


def test_an_unknown_time_zone_is_refused() -> None:
    result = _run("reference.erp", {"REFERENCE_DB_PASSWORD": "x", "REFERENCE_ERP_TIME_ZONE": "Mars/Olympus"})

    assert result.returncode == 2 and "REFERENCE_ERP_TIME_ZONE='Mars/Olympus'" in result.stderr


def test_an_unreachable_database_is_a_clear_error() -> None:
    port = free_port()
    result = _run("reference.crm", {"REFERENCE_DB_PASSWORD": "x", "REFERENCE_DB_PORT": str(port)})

    assert result.returncode == 2
    assert f"cannot connect to the CRM database 'crm' at 127.0.0.1:{port}" in result.stderr
