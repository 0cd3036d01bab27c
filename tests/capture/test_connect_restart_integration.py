"""Restarting Kafka Connect while rows are being written loses no change: rows written equal events captured.

Both connectors run with exactly-once source support, so a read_committed reader must see each insert
once, not merely at least once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from support.events import Event, end_positions, read_events

from streams.capture.client import RUNNING, ConnectClient, ConnectorState
from streams.capture.deploy import wait_until
from streams.stack.manager import StackManager
from streams.stack.running import RunningStack

ROWS = 120


def _write_crm(stack: RunningStack, keys: list[str]) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        for sku in keys:
            conn.execute("INSERT INTO crm.products (sku, name, list_price) VALUES (%s, %s, 9.99)",
                         (sku, "restart probe"))
            time.sleep(0.04)


def _write_erp(stack: RunningStack, keys: list[str]) -> None:
    with stack.connect_erp(autocommit=True) as conn, conn.cursor() as cursor:
        for code in keys:
            cursor.execute("INSERT INTO warehouses (code, name) VALUES (%s, %s)", (code, "restart probe"))
            time.sleep(0.04)


def _creates(events: list[Event], field: str, wanted: set[str]) -> Counter[str]:
    return Counter(e.value["after"][field] for e in events
                   if e.op == "c" and isinstance(e.value, dict) and e.value["after"][field] in wanted)


def _remove_probe_rows(stack: RunningStack, skus: list[str], codes: list[str]) -> None:
    """Probe products must not linger: the activity simulator would order them from an ERP that lacks them."""
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute("DELETE FROM crm.products WHERE sku = ANY(%s)", (skus,))
    with stack.connect_erp(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM warehouses WHERE code IN %s", (codes,))


def _all_running(state: ConnectorState) -> bool:
    return state.state == RUNNING and all(t.state == RUNNING for t in state.tasks)


def test_restarting_connect_while_writing_loses_no_change(deployed: dict[str, Any], stack: RunningStack) -> None:
    manager = StackManager(stack.settings)
    if next(s for s in manager.status() if s.name == "connect").pid is None:
        pytest.skip("Kafka Connect is not run by this stack's home, so this session cannot restart it")
    run = uuid.uuid4().hex[:5]
    skus = [f"RESTART-{run}-{i:04d}" for i in range(ROWS)]
    codes = [f"R{run}{i:03d}"[:10] for i in range(ROWS)]
    assert len(set(codes)) == ROWS
    bootstrap = stack.settings.bootstrap_servers
    since_crm = end_positions(bootstrap, "crm.crm.products")
    since_erp = end_positions(bootstrap, "erp.erp.warehouses")

    writers = [threading.Thread(target=_write_crm, args=(stack, skus)),
               threading.Thread(target=_write_erp, args=(stack, codes))]
    for writer in writers:
        writer.start()
    time.sleep(1.5)
    manager.restart("connect")
    for writer in writers:
        writer.join()

    with ConnectClient(stack.settings.connect_url) as client:
        for name in ("crm-source", "erp-source"):
            wait_until(client, name, RUNNING, _all_running, say=lambda _: None, timeout=120, settle=3.0)

    crm = read_events(bootstrap, "crm.crm.products", since_crm,
                      lambda evs: len(_creates(evs, "sku", set(skus))) == ROWS, timeout=180)
    erp = read_events(bootstrap, "erp.erp.warehouses", since_erp,
                      lambda evs: len(_creates(evs, "code", set(codes))) == ROWS, timeout=180)
    crm_seen, erp_seen = _creates(crm, "sku", set(skus)), _creates(erp, "code", set(codes))
    _remove_probe_rows(stack, skus, codes)
    assert set(crm_seen) == set(skus), f"CRM changes lost: {sorted(set(skus) - set(crm_seen))[:10]}"
    assert set(erp_seen) == set(codes), f"ERP changes lost: {sorted(set(codes) - set(erp_seen))[:10]}"
    assert max(crm_seen.values()) == 1 and max(erp_seen.values()) == 1, "a change was captured twice"
