"""The warehouse loader's settings: a section of the runtime settings model (streams/config).

Kafka's address is the ``kafka`` section's; the warehouse's PostgreSQL server is ``dsn`` (the local stack
offers its CRM server's), the database on it ``database``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from streams.config.exceptions import RuntimeConfigError
from streams.config.section import Section
from streams.flows.topics import CANONICAL_PREFIX
from streams.warehouse.exceptions import WarehouseSettingsError
from streams.warehouse.tables import Rules

DEFAULT_METRICS_PORT = 18089

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class WarehouseSettings(Section):
    """``isthmus warehouse``: where the star schema lives and how the loader reads into it."""

    NAME: ClassVar[str] = "warehouse"
    ERROR: ClassVar[type[RuntimeConfigError]] = WarehouseSettingsError
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "database": "ISTHMUS_WAREHOUSE_DB", "schema_name": "ISTHMUS_WAREHOUSE_SCHEMA",
        "batch_size": "ISTHMUS_WAREHOUSE_BATCH", "canonical_prefix": "ISTHMUS_CANONICAL_PREFIX",
        "client_code_prefix": "ISTHMUS_WAREHOUSE_CLIENT_PREFIX"}
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_WAREHOUSE_")

    dsn: SecretStr | None = Field(None, description="libpq conninfo or postgresql:// URL of the warehouse's "
                                  "PostgreSQL server (secret; the local stack offers its CRM server's)")
    database: str = Field("warehouse", description="PostgreSQL database of the warehouse, on that server")
    schema_name: str = Field("dwh", description="schema the star schema lives in")
    client_code_prefix: str = Field("CL-", description="client_code_prefix, a value the expressions of "
                                    "warehouse/tables.yaml can read")
    batch_size: int = Field(500, gt=0, description="records per database transaction")
    canonical_prefix: str = Field(CANONICAL_PREFIX, description="prefix of the canonical topics the loader reads")
    metrics_port: int = Field(DEFAULT_METRICS_PORT, ge=0, le=65535,
                              json_schema_extra={"expect": "a port (0-65535, 0: a free one)"},
                              description="port of the loader's /metrics (Prometheus; 0 picks a free one, logged)")

    @field_validator("schema_name")
    @classmethod
    def _identifier(cls, schema: str) -> str:
        if not _IDENTIFIER.match(schema):
            raise ValueError(f"{schema!r} is not a lower-case SQL identifier (letters, digits, _); e.g. dwh")
        return schema

    @field_validator("canonical_prefix")
    @classmethod
    def _topic(cls, prefix: str) -> str:
        if not _TOPIC.match(prefix):
            raise ValueError(f"{prefix!r} is not a Kafka topic prefix (letters, digits, '.', '_', '-'); "
                             "e.g. isthmus.canonical")
        return prefix

    @property
    def rules(self) -> Rules:
        return Rules(client_code_prefix=self.client_code_prefix)
