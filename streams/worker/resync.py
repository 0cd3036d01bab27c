"""The daily re-sync of master data: Debezium incremental snapshots of the master tables, sent as signals.

The article's batch synchronisation of master data: once a day (``ISTHMUS_RESYNC_AT``, UTC) every master
table is re-read by its connector while streaming goes on, and the flows reconcile what they read, so a
drift that no change event revealed is repaired. Commands it causes carry the same idempotency rules.

The master tables are configuration: each captured system's file lists its own (``resync``, systems/README.md),
so a system of one's own is re-synced as the reference pair is (the CRM's customers and products, the ERP's
accounts and stock). A captured system that lists none is not re-synced, and each request says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

from streams.capture import configs
from streams.capture.signals import SnapshotRequest, request_incremental_snapshot
from streams.systems import Systems, load_systems

log = logging.getLogger(__name__)


def master_tables(systems: Systems) -> dict[str, tuple[str, ...]]:
    """Per connector, the data collections (``<namespace>.<table>``) its systems' files list under ``resync``, in
    the files' order; a connector whose systems list none is left out."""
    tables: dict[str, tuple[str, ...]] = {}
    for spec in systems.values():
        if spec.connector is None or not spec.resync:
            continue
        listed = tables.get(spec.connector, ())
        tables[spec.connector] = listed + tuple(c for c in (f"{spec.namespace}.{t}" for t in spec.resync)
                                                if c not in listed)
    return tables


def unsynced(systems: Systems) -> tuple[str, ...]:
    """The captured systems whose files list no ``resync`` table: the daily re-sync reads none of theirs."""
    return tuple(name for name in systems.captured if not systems[name].resync)


def seconds_until(at: tuple[int, int], now: dt.datetime) -> float:
    """Seconds from ``now`` (UTC) to the next ``HH:MM`` UTC."""
    target = now.replace(hour=at[0], minute=at[1], second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


def request_master_data_resync(variables: Mapping[str, str], env: str = "local", *,
                               systems: Systems | None = None) -> list[SnapshotRequest]:
    """A snapshot signal per connector of the master tables ``systems`` (default: systems/) list
    (:func:`master_tables`), its config rendered with ``variables`` (``RuntimeSettings.connector_variables``),
    written as each connector's own user into its own database (streams/capture/signals.py)."""
    systems = systems if systems is not None else load_systems()
    skipped = unsynced(systems)
    if skipped:
        log.info("master-data re-sync: %s list no resync tables in their system files, so none of their tables is "
                 "read again (systems/README.md, resync)", ", ".join(skipped))
    # the connectors of the systems' files are beside their folder, as the systems loader finds them (a project of
    # one's own: ISTHMUS_SYSTEMS_DIR=<dir>/systems, its connectors in <dir>/connect-configs)
    root = systems.directory.resolve().parent / "connect-configs"
    root = root if (root / configs.CONNECTORS_DIR).is_dir() else configs.DEFAULT_ROOT
    loaded = configs.load(root, env=env)
    wanted = master_tables(systems)
    for name in (n for n in wanted if n not in loaded.files):
        log.warning("master-data re-sync: %s is not read again: its connector %s has no file in %s, so no snapshot "
                    "of it can be asked for; fix: add %s.yaml there (where `isthmus mappings validate` finds it)",
                    ", ".join(wanted[name]), name, root / configs.CONNECTORS_DIR, name)
    return [request_incremental_snapshot(name, loaded.render(name, variables).config, tables, root)
            for name, tables in wanted.items() if name in loaded.files]


async def run_daily(variables: Mapping[str, str], at: tuple[int, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        wait = seconds_until(at, dt.datetime.now(dt.UTC))
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return
        except TimeoutError:
            pass
        try:
            requests = await asyncio.to_thread(request_master_data_resync, variables)
            log.info("master-data re-sync requested: %s", ", ".join(f"{r.connector} {r.data_collections}"
                                                                    for r in requests) or "none (nothing to read)")
        except Exception:  # the next day tries again; the worker's flows must not stop for this
            log.exception("master-data re-sync could not be requested")
