"""The daily re-sync of master data: Debezium incremental snapshots of the master tables, sent as signals.

The article's batch synchronisation of master data: once a day (``ISTHMUS_RESYNC_AT``, UTC) every master
table is re-read by its connector while streaming goes on, and the flows reconcile what they read, so a
drift that no change event revealed is repaired. Commands it causes carry the same idempotency rules.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

from streams.capture import configs
from streams.capture.signals import SnapshotRequest, request_incremental_snapshot
from streams.config.endpoints import EndpointSettings

log = logging.getLogger(__name__)

MASTER_TABLES: dict[str, tuple[str, ...]] = {
    "crm-source": ("crm.customers", "crm.products"),
    "erp-source": ("erp.accounts", "erp.stock"),
}


def seconds_until(at: tuple[int, int], now: dt.datetime) -> float:
    """Seconds from ``now`` (UTC) to the next ``HH:MM`` UTC."""
    target = now.replace(hour=at[0], minute=at[1], second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


def request_master_data_resync(endpoints: EndpointSettings, variables: Mapping[str, str],
                               env: str = "local") -> list[SnapshotRequest]:
    """A snapshot signal per master-data connector, its config rendered with ``variables``
    (``capture.variables``), written through ``endpoints``' DSNs."""
    loaded = configs.load(env=env)
    return [request_incremental_snapshot(endpoints, name, loaded.render(name, variables).config, tables)
            for name, tables in MASTER_TABLES.items() if name in loaded.files]


async def run_daily(endpoints: EndpointSettings, variables: Mapping[str, str], at: tuple[int, int],
                    stop: asyncio.Event) -> None:
    while not stop.is_set():
        wait = seconds_until(at, dt.datetime.now(dt.UTC))
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return
        except TimeoutError:
            pass
        try:
            requests = await asyncio.to_thread(request_master_data_resync, endpoints, variables)
            log.info("master-data re-sync requested: %s", ", ".join(f"{r.connector} {r.data_collections}"
                                                                    for r in requests))
        except Exception:  # the next day tries again; the worker's flows must not stop for this
            log.exception("master-data re-sync could not be requested")
