"""The daily master-data re-sync asks each connector for an incremental snapshot of its master tables: the
customers and accounts are read again (op ``r``) while streaming goes on."""

from __future__ import annotations

from typing import Any

from support.events import end_positions, read_events
from support.stack_offer import stack_runtime

from reference.topics import CRM_CUSTOMERS, ERP_ACCOUNTS
from streams.cli.main import main as cli_main
from streams.stack.running import RunningStack
from streams.systems import load_systems
from streams.worker.resync import master_tables, request_master_data_resync


def _read_keys(events: list[Any], column: str) -> set[Any]:
    """Rows re-emitted: as a read, or (Debezium drops a chunk's row that changed meanwhile) as that change."""
    return {e.value["after"][column] for e in events
            if isinstance(e.value, dict) and e.value.get("op") in ("r", "c", "u")}


def test_resync_rereads_every_master_row(stack: RunningStack) -> None:
    assert cli_main(["connectors", "deploy"]) == 0
    with stack.connect_crm() as conn:
        conn.execute("INSERT INTO crm.customers (customer_number, name) VALUES ('C-7000000001', 'Resync Probe') "
                     "ON CONFLICT (customer_number) DO NOTHING")
        conn.commit()
        customers = {row[0] for row in conn.execute("SELECT customer_number FROM crm.customers")}
    erp = stack.connect_erp()
    try:
        with erp.cursor() as cursor:
            cursor.execute("SELECT account_id FROM accounts")
            accounts = {row[0] for row in cursor.fetchall()}
    finally:
        erp.close()
    bootstrap = stack.settings.bootstrap_servers
    since = {t: end_positions(bootstrap, t) for t in (CRM_CUSTOMERS, ERP_ACCOUNTS)}

    runtime = stack_runtime(stack.settings)
    requests = request_master_data_resync(runtime.connector_variables)

    assert {r.connector for r in requests} == set(master_tables(load_systems()))
    crm = _read_keys(read_events(bootstrap, CRM_CUSTOMERS, since[CRM_CUSTOMERS],
                                 lambda evs: customers <= _read_keys(evs, "customer_number"), timeout=180),
                     "customer_number")
    assert customers <= crm, f"{len(customers - crm)} of {len(customers)} customers not read again"
    if accounts:
        erp = _read_keys(read_events(bootstrap, ERP_ACCOUNTS, since[ERP_ACCOUNTS],
                                     lambda evs: accounts <= _read_keys(evs, "account_id"), timeout=180), "account_id")
        assert accounts <= erp, f"{len(accounts - erp)} of {len(accounts)} accounts not read again"
