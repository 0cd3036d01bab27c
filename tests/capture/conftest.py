"""Fixtures for capture tests: a copy of connect-configs to edit, and the stack variables to render it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.capture import configs
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
                        crm_db_password=Secret("unit-crm"), erp_db_password=Secret("unit-erp"))


@pytest.fixture
def variables(unit_secrets: StackSecrets) -> dict[str, str]:
    return configs.stack_variables(StackSettings(), unit_secrets)
