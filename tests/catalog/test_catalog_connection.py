"""Kafka Connect config provider references in a connector's connection resolve locally for discovery, and an
unresolvable one says which key and how to fix it without showing a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.catalog import CatalogError
from streams.catalog.live import resolve


def test_file_and_env_references_resolve(tmp_path: Path) -> None:
    secrets = tmp_path / "stack.properties"
    secrets.write_text("# comment\ncrm.db.password=s3cr:et=x\nerp.db.password : other\n", encoding="utf-8")
    assert resolve(f"${{file:{secrets}:crm.db.password}}", key="database.password", environ={}) == "s3cr:et=x"
    assert resolve(f"${{file:{secrets}:erp.db.password}}", key="database.password", environ={}) == "other"
    assert resolve("db-${env:SHARD}.local", key="database.hostname", environ={"SHARD": "7"}) == "db-7.local"
    assert resolve("plain", key="database.user", environ={}) == "plain"


def test_unresolvable_references_name_the_key(tmp_path: Path) -> None:
    secrets = tmp_path / "stack.properties"
    secrets.write_text("crm.db.password=hidden\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"database.password: .* has no key 'erp.db.password'") as caught:
        resolve(f"${{file:{secrets}:erp.db.password}}", key="database.password", environ={})
    assert "hidden" not in str(caught.value)
    with pytest.raises(CatalogError, match=r"\$\{env:PGPASS\} is not set in the environment; fix: export PGPASS"):
        resolve("${env:PGPASS}", key="database.password", environ={})
    with pytest.raises(CatalogError, match="cannot be resolved outside Kafka Connect"):
        resolve("${vault:secret/db:password}", key="database.password", environ={})
