"""The built wheel, installed in a fresh virtual environment and run outside the repo, works on its own:
its schemas, mappings, targets, systems, flows and connector configs ship with it (issue 16, item 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.wheel import run

from streams.config.paths import PROJECT_ROOT
from streams.stack.running import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.beside]


def test_the_installed_wheel_runs_outside_the_repo(installed_wheel: Path, stack: RunningStack,
                                                   tmp_path: Path) -> None:
    installed = installed_wheel
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISTHMUS_") and k != "PYTHONPATH"}
    env.update({"ISTHMUS_HOME": str(stack.settings.home), "ISTHMUS_KAFKA_PORT": str(stack.settings.kafka_port),
                "ISTHMUS_CONNECT_PORT": str(stack.settings.connect_port),
                "ISTHMUS_CRM_DB_PORT": str(stack.settings.crm_db_port),
                "ISTHMUS_ERP_DB_PORT": str(stack.settings.erp_db_port)})
    isthmus = str(installed / "isthmus")
    located = run(str(installed / "python"), "-c", "import streams; print(streams.__file__)", cwd=outside, env=env)
    assert str(PROJECT_ROOT) not in located, "the venv's own copy is imported, not the checkout's"

    assert "--flow" in run(isthmus, "worker", "--help", cwd=outside, env=env)

    shown = run(isthmus, "config", "show", cwd=outside, env=env)
    share = installed.parent / "share" / "isthmus"
    assert f"{share / 'mappings'}" in shown and f"{share / 'connect-configs'}" in shown
    assert f"127.0.0.1:{stack.settings.kafka_port}" in shown and "[stack]" in shown

    validated = run(isthmus, "connectors", "validate", cwd=outside, env=env)
    assert "crm-source: valid" in validated and "erp-source: valid" in validated

    (outside / "isthmus.yaml").write_text(f"dirs:\n  mappings_dir: {outside}\n", encoding="utf-8")
    overridden = run(isthmus, "--config", "isthmus.yaml", "config", "show", cwd=outside, env=env)
    assert any(line.split()[:3] == ["ISTHMUS_MAPPINGS_DIR", str(outside), "[file]"]
               for line in overridden.splitlines())
