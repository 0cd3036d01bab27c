"""`isthmus status` reads each PostgreSQL connector's replication slot, as the connector reaches its database: a
trial stopped Kafka Connect for a while, the slot kept 73 MB of WAL, and status said nothing of it (the DBA's
first question: how much WAL does the slot keep, and does anything read it?). Here a slot of its own, that no
connector reads, is found, its kept WAL grows with what the server writes, and the line says it is idle, how
much it keeps, that nothing bounds it, and what to do."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import psycopg
import pytest
from support.stack_offer import stack_runtime

from streams.capture import configs
from streams.catalog.live import connection_for, replication_slot
from streams.inspect.health import slot_text
from streams.stack.running import RunningStack
from streams.systems import load_systems

pytestmark = pytest.mark.integration


def test_an_idle_slot_is_read_with_the_wal_it_keeps(stack: RunningStack, tmp_path: Path) -> None:
    slot = f"isthmus_slot_test_{secrets.token_hex(4)}"
    spec = load_systems()["crm"]
    # the connector's file, naming a slot of its own (the stack's own connector may be reading isthmus_crm)
    root = tmp_path / "connect-configs"
    shutil.copytree(configs.DEFAULT_ROOT, root)
    connector = root / configs.CONNECTORS_DIR / f"{spec.connector}.yaml"
    connector.write_text(connector.read_text().replace("slot.name: isthmus_crm", f"slot.name: {slot}"))
    variables = stack_runtime(stack.settings).connector_variables
    assert replication_slot(spec, variables=variables, configs_root=root) is not None
    connection = connection_for(spec, variables=variables, configs_root=root)
    with psycopg.connect(host=connection.host, port=connection.port, user=connection.user, autocommit=True,
                         password=connection.password.reveal(), dbname=connection.database) as pg:
        missing = replication_slot(spec, variables=variables, configs_root=root)
        assert missing is not None and not missing.exists and missing.name == slot
        assert "does not exist" in slot_text(missing)
        pg.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            before = replication_slot(spec, variables=variables, configs_root=root)
            pg.execute("SELECT pg_logical_emit_message(false, 'isthmus-test', repeat('x', 200000))")
            after = replication_slot(spec, variables=variables, configs_root=root)
        finally:
            pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert before is not None and after is not None and after.exists and not after.active
    assert before.retained_bytes is not None and after.retained_bytes is not None
    # grows with the 200,000-byte message (what the server has written of it yet: its WAL write position, not its
    # insert position, may stop short of the record's end)
    assert after.retained_bytes >= before.retained_bytes + 100_000
    assert after.connector == spec.connector and after.wal_status in ("reserved", "extended")
    line = slot_text(after)
    assert line.startswith(f"slot {slot} ({spec.connector}): INACTIVE, keeps ") and "of WAL" in line
    assert f"nothing reads it, so it keeps every change made since: start {spec.connector}" in line
    if after.keep_size == "-1":
        assert "no bound: max_slot_wal_keep_size is -1, so it can fill the disk" in line
