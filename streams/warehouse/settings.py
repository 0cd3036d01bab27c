"""The loader's settings, from the environment, with the stack's (ports, ERP zone) underneath."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from streams.codecs.exceptions import LocalTimeError
from streams.codecs.local_time import Ambiguous, Nonexistent, zone
from streams.stack.settings import StackSettings
from streams.warehouse.exceptions import WarehouseSettingsError
from streams.warehouse.tables import Rules

DOCS: dict[str, str] = {
    "ISTHMUS_WAREHOUSE_DB": "PostgreSQL database of the warehouse, on the CRM server (default warehouse)",
    "ISTHMUS_WAREHOUSE_SCHEMA": "schema the star schema lives in (default dwh)",
    "ISTHMUS_WAREHOUSE_CLIENT_PREFIX": "prefix of dim_client.client_code before the CRM customer id (default CL-)",
    "ISTHMUS_WAREHOUSE_BATCH": "records per database transaction (default 500)",
    "ISTHMUS_WAREHOUSE_NONEXISTENT": "an ERP time the clocks skipped: raise (dead letter) or shift_forward",
    "ISTHMUS_WAREHOUSE_AMBIGUOUS": "an ERP time that happened twice: raise (dead letter), earliest or latest",
    "ISTHMUS_ERP_TIME_ZONE": "zone of the ERP's zone-less times (stack setting, default Asia/Shanghai)",
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, kw_only=True)
class WarehouseSettings:
    bootstrap_servers: str
    erp_time_zone: str
    database: str = "warehouse"
    schema: str = "dwh"
    client_code_prefix: str = "CL-"
    batch_size: int = 500
    nonexistent: Nonexistent = Nonexistent.RAISE
    ambiguous: Ambiguous = Ambiguous.RAISE
    worker_id: str = "isthmus-warehouse"

    @property
    def rules(self) -> Rules:
        return Rules(erp_time_zone=self.erp_time_zone, client_code_prefix=self.client_code_prefix,
                     nonexistent=self.nonexistent, ambiguous=self.ambiguous)

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
        try:
            zone(stack.erp_time_zone)
        except LocalTimeError as exc:
            problems.append(f"ISTHMUS_ERP_TIME_ZONE: {exc}")
        nonexistent, ambiguous = Nonexistent.RAISE, Ambiguous.RAISE
        raw = env.get("ISTHMUS_WAREHOUSE_NONEXISTENT") or "raise"
        try:
            nonexistent = Nonexistent(raw)
        except ValueError:
            problems.append(f"ISTHMUS_WAREHOUSE_NONEXISTENT={raw!r}; use one of "
                            f"{', '.join(v.value for v in Nonexistent)}")
        raw = env.get("ISTHMUS_WAREHOUSE_AMBIGUOUS") or "raise"
        try:
            ambiguous = Ambiguous(raw)
        except ValueError:
            problems.append(f"ISTHMUS_WAREHOUSE_AMBIGUOUS={raw!r}; use one of {', '.join(v.value for v in Ambiguous)}")
        if problems:
            raise WarehouseSettingsError("invalid warehouse settings:\n  " + "\n  ".join(problems))
        return cls(bootstrap_servers=stack.bootstrap_servers, erp_time_zone=stack.erp_time_zone,
                   database=env.get("ISTHMUS_WAREHOUSE_DB") or "warehouse", schema=schema,
                   client_code_prefix=env.get("ISTHMUS_WAREHOUSE_CLIENT_PREFIX", "CL-"), batch_size=batch,
                   nonexistent=nonexistent, ambiguous=ambiguous,
                   worker_id=env.get("ISTHMUS_WORKER_ID") or "isthmus-warehouse")
