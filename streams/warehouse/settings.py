"""The loader's settings, from the environment, with the stack's (Kafka's address) underneath."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from streams.config.kafka import KafkaAddress
from streams.flows.topics import CANONICAL_PREFIX
from streams.stack.settings import StackSettings
from streams.warehouse.exceptions import WarehouseSettingsError
from streams.warehouse.tables import Rules

METRICS_PORT_ENV = "ISTHMUS_WAREHOUSE_METRICS_PORT"
DEFAULT_METRICS_PORT = 18089

DOCS: dict[str, str] = {
    "ISTHMUS_WAREHOUSE_DB": "PostgreSQL database of the warehouse, on the CRM server (default warehouse)",
    "ISTHMUS_WAREHOUSE_SCHEMA": "schema the star schema lives in (default dwh)",
    "ISTHMUS_WAREHOUSE_CLIENT_PREFIX": ("client_code_prefix, a value the expressions of warehouse/tables.yaml "
                                        "can read (default CL-)"),
    "ISTHMUS_WAREHOUSE_BATCH": "records per database transaction (default 500)",
    "ISTHMUS_CANONICAL_PREFIX": "prefix of the canonical topics the loader reads (default isthmus.canonical)",
    METRICS_PORT_ENV: f"port of the loader's /metrics (Prometheus; default {DEFAULT_METRICS_PORT}; 0 picks a free "
                      "one, logged)",
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclass(frozen=True, kw_only=True)
class WarehouseSettings:
    bootstrap_servers: KafkaAddress
    canonical_prefix: str = CANONICAL_PREFIX
    database: str = "warehouse"
    schema: str = "dwh"
    client_code_prefix: str = "CL-"
    batch_size: int = 500
    worker_id: str = "isthmus-warehouse"
    metrics_port: int = DEFAULT_METRICS_PORT

    @property
    def rules(self) -> Rules:
        return Rules(client_code_prefix=self.client_code_prefix)

    @classmethod
    def from_env(cls, stack: StackSettings, env: Mapping[str, str] | None = None) -> WarehouseSettings:
        env = os.environ if env is None else env
        problems: list[str] = []
        schema = env.get("ISTHMUS_WAREHOUSE_SCHEMA") or "dwh"
        if not _IDENTIFIER.match(schema):
            problems.append(f"ISTHMUS_WAREHOUSE_SCHEMA={schema!r} is not a lower-case SQL identifier "
                            "(letters, digits, _); e.g. dwh")
        raw_batch = env.get("ISTHMUS_WAREHOUSE_BATCH") or "500"
        batch = int(raw_batch) if raw_batch.isdigit() else 0
        if batch < 1:
            problems.append(f"ISTHMUS_WAREHOUSE_BATCH={raw_batch!r} is not a positive whole number; e.g. 500")
        prefix = env.get("ISTHMUS_CANONICAL_PREFIX") or CANONICAL_PREFIX
        if not _TOPIC.match(prefix):
            problems.append(f"ISTHMUS_CANONICAL_PREFIX={prefix!r} is not a Kafka topic prefix (letters, digits, "
                            "'.', '_', '-'); e.g. isthmus.canonical")
        raw_port = (env.get(METRICS_PORT_ENV) or "").strip() or str(DEFAULT_METRICS_PORT)
        port = int(raw_port) if raw_port.isdigit() and int(raw_port) <= 65535 else -1
        if port < 0:
            problems.append(f"{METRICS_PORT_ENV}={raw_port!r} is not a port (0-65535, 0: a free one); unset it to "
                            f"use {DEFAULT_METRICS_PORT}")
        if problems:
            raise WarehouseSettingsError("invalid warehouse settings:\n  " + "\n  ".join(problems))
        return cls(bootstrap_servers=stack.bootstrap_servers, canonical_prefix=prefix,
                   database=env.get("ISTHMUS_WAREHOUSE_DB") or "warehouse", schema=schema,
                   client_code_prefix=env.get("ISTHMUS_WAREHOUSE_CLIENT_PREFIX", "CL-"), batch_size=batch,
                   worker_id=env.get("ISTHMUS_WORKER_ID") or "isthmus-warehouse", metrics_port=port)
