from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reference.common.config import AppConfig, EnvReader, read_app_config


@dataclass(frozen=True, kw_only=True)
class CrmConfig:
    """The CRM's settings; ``REFERENCE_DB_SCHEMA`` (default ``crm``) lets tests use a schema of their own."""

    app: AppConfig
    schema: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CrmConfig:
        reader = EnvReader(os.environ if env is None else env)
        app = read_app_config(reader, http_port=18001, db_port=15432, db_name="crm")
        schema = reader.identifier("REFERENCE_DB_SCHEMA", "crm")
        reader.raise_problems("reference CRM")
        return cls(app=app, schema=schema)
