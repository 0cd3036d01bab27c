"""What the SQL pool tests share: a made-up system's SQL target file and its commands."""

from __future__ import annotations

import textwrap
from pathlib import Path

from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.records import SinkCommand

SYSTEM = "ledgerhub"


def target(folder: Path, table: str, keys: str = "") -> TargetConfig:
    """``SYSTEM``'s target: ``ProductAvailability`` upserted into ``table`` (``sku``, ``available_qty``)."""
    path = folder / f"{SYSTEM}.yaml"
    sql = f"sql: {{keys_table: {keys}}}" if keys else ""
    path.write_text(textwrap.dedent(f"""\
        system: {SYSTEM}
        adapter: sql
        {sql}
        routes:
          - payload_type: ProductAvailability
            operation: upsert
            table: {table}
            key: [sku]
            columns: {{sku: sku, available_qty: available_qty}}
        """), encoding="utf-8")
    return load_target(path, writable=[SYSTEM])


def availability(sku: str, qty: int, command_id: str) -> SinkCommand:
    return SinkCommand(command_id=command_id, idempotency_key=f"pool-test:{command_id}", target=SYSTEM,
                       operation="upsert", entity_type="isthmus.canonical.Product", entity_key=sku,
                       payload_type="isthmus.canonical.ProductAvailability",
                       payload={"sku": sku, "available_qty": f"{qty}.000"})
