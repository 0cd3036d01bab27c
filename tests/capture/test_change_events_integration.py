"""An insert, an update and a delete on each side arrive as Debezium change events on the right topics, and so
does a truncate."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import pytest
from kafka import TopicPartition
from support.events import Event, decimal_of, end_positions, read_events
from support.topics import TopicReader

from streams.codecs import ChangeEvent, Op, decode
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.unavailable import PLACEHOLDER, unavailable_columns
from streams.flows.engine.api import Incoming
from streams.flows.engine.staging import RecordContext
from streams.flows.parked import HOLD_SCHEMA
from streams.flows.truncates import Truncates
from streams.stack.running import RunningStack
from streams.systems import load_systems


def for_key(events: list[Event], field: str, value: Any) -> list[Event]:
    return [e for e in events if isinstance(e.key, dict) and e.key.get(field) == value]


def has_full_cycle(field: str, value: Any) -> Any:
    """Predicate: c, u, d and the tombstone of one row have all arrived."""
    def done(events: list[Event]) -> bool:
        mine = for_key(events, field, value)
        return [e.op for e in mine][:3] == ["c", "u", "d"] and len(mine) >= 4
    return done


def has_begin(transaction_id: str) -> Any:
    def done(events: list[Event]) -> bool:
        return any(e.value and e.value.get("id") == transaction_id and e.value.get("status") == "BEGIN"
                   for e in events)
    return done


def test_crm_insert_update_delete(deployed: dict[str, Any], stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    topic = "crm.crm.customers"
    since = end_positions(bootstrap, topic)
    since_tx = end_positions(bootstrap, "crm.transaction")
    number = f"C-9{secrets.randbelow(10**8):08d}"

    with stack.connect_crm() as conn:
        row = conn.execute("INSERT INTO crm.customers (customer_number, name, credit_limit) "
                           "VALUES (%s, %s, %s) RETURNING id",
                           (number, "Capture Test", Decimal("1234.50"))).fetchone()
        assert row is not None
        customer_id = row[0]
        conn.commit()
        conn.execute("UPDATE crm.customers SET name = %s, version = version + 1 WHERE id = %s",
                     ("Capture Test Renamed", customer_id))
        conn.commit()
        conn.execute("DELETE FROM crm.customers WHERE id = %s", (customer_id,))
        conn.commit()

    events = for_key(read_events(bootstrap, topic, since, has_full_cycle("id", customer_id)),
                     "id", customer_id)

    assert [e.op for e in events] == ["c", "u", "d", None]
    created, updated, deleted, tombstone = events
    assert created.value["before"] is None
    assert created.value["after"]["customer_number"] == number
    assert decimal_of(created.value["after"]["credit_limit"], 2) == Decimal("1234.50")
    assert updated.value["before"]["name"] == "Capture Test"  # REPLICA IDENTITY FULL: the whole before-image
    assert updated.value["after"]["name"] == "Capture Test Renamed"
    assert deleted.value["before"]["customer_number"] == number and deleted.value["after"] is None
    assert tombstone.value is None and tombstone.key == {"id": customer_id}
    sources = [e.value["source"] for e in (created, updated, deleted)]
    assert all((s["connector"], s["db"], s["schema"], s["table"]) == ("postgresql", "crm", "crm", "customers")
               for s in sources)
    lsns = [s["lsn"] for s in sources]
    assert all(isinstance(lsn, int) for lsn in lsns) and lsns == sorted(lsns) and len(set(lsns)) == 3

    transaction_id = created.value["transaction"]["id"]
    begin = has_begin(transaction_id)
    assert begin(read_events(bootstrap, "crm.transaction", since_tx, begin))


def test_erp_insert_update_delete(deployed: dict[str, Any], stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    topic = "erp.erp.accounts"
    since = end_positions(bootstrap, topic)
    since_tx = end_positions(bootstrap, "erp.transaction")
    code = f"T{secrets.randbelow(10**9):09d}"

    conn = stack.connect_erp()
    try:
        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO accounts (account_code, name, credit_limit) VALUES (%s, %s, %s)",
                           (code, "Capture Test", Decimal("5000.00")))
            account_id = cursor.lastrowid
            conn.commit()
            cursor.execute("UPDATE accounts SET credit_limit = %s, version = version + 1 "
                           "WHERE account_id = %s", (Decimal("7500.25"), account_id))
            conn.commit()
            cursor.execute("DELETE FROM accounts WHERE account_id = %s", (account_id,))
            conn.commit()
    finally:
        conn.close()

    events = for_key(read_events(bootstrap, topic, since, has_full_cycle("account_id", account_id)),
                     "account_id", account_id)

    assert [e.op for e in events] == ["c", "u", "d", None]
    created, updated, deleted, tombstone = events
    assert created.value["before"] is None and created.value["after"]["account_code"] == code
    assert decimal_of(updated.value["before"]["credit_limit"], 2) == Decimal("5000.00")
    assert decimal_of(updated.value["after"]["credit_limit"], 2) == Decimal("7500.25")
    assert deleted.value["before"]["account_code"] == code and deleted.value["after"] is None
    assert tombstone.value is None and tombstone.key == {"account_id": account_id}
    sources = [e.value["source"] for e in (created, updated, deleted)]
    assert all((s["connector"], s["db"], s["table"]) == ("mariadb", "erp", "accounts") for s in sources)
    positions = [(s["file"], s["pos"]) for s in sources]
    assert all(isinstance(file, str) and file and isinstance(pos, int) and pos > 0 for file, pos in positions)
    assert positions == sorted(positions) and len(set(positions)) == 3
    gtids = [s["gtid"] for s in sources]
    assert all(g and g.count("-") == 2 for g in gtids) and len(set(gtids)) == 3

    transaction_id = created.value["transaction"]["id"]
    assert transaction_id == gtids[0]
    begin = has_begin(transaction_id)
    assert begin(read_events(bootstrap, "erp.transaction", since_tx, begin))


def test_an_unchanged_toasted_value_arrives_as_the_placeholder_and_is_found(
        deployed: dict[str, Any], stack: RunningStack) -> None:
    """crm.contacts keeps PostgreSQL's default replica identity: an update of one column leaves a large unchanged
    text out of the new row, and Debezium writes its placeholder there, which decoding keeps and
    :func:`unavailable_columns` finds (so no mapping takes it for the value: test_mapping_partial_images.py)."""
    bootstrap = stack.settings.bootstrap_servers
    topic = "crm.crm.contacts"
    since = end_positions(bootstrap, topic)
    number = f"C-9{secrets.randbelow(10**8):08d}"
    large = secrets.token_hex(8_000)  # 16,000 characters that do not compress: stored out of line (TOAST)
    with stack.connect_crm() as conn:
        row = conn.execute("INSERT INTO crm.customers (customer_number, name, credit_limit) VALUES (%s, %s, 0) "
                           "RETURNING id", (number, "Toast Test")).fetchone()
        assert row is not None
        contact = conn.execute("INSERT INTO crm.contacts (customer_id, first_name, last_name, role) "
                               "VALUES (%s, 'Ann', 'Toast', %s) RETURNING id", (row[0], large)).fetchone()
        assert contact is not None
        conn.commit()
        conn.execute("UPDATE crm.contacts SET phone = '+49 40 1' WHERE id = %s", (contact[0],))
        conn.commit()
        conn.execute("DELETE FROM crm.customers WHERE id = %s", (row[0],))  # and its contact, by cascade
        conn.commit()

    def decoded(record: Any) -> ChangeEvent | None:
        event = decode(record.value, record.key, topic=record.topic)
        return event if isinstance(event, ChangeEvent) and event.key == {"id": contact[0]} else None

    with TopicReader(bootstrap, [topic], decoded, start={TopicPartition(topic, p): o for p, o in since.items()},
                     appear_within=60) as reader:
        reader.until("the contact's insert, update and delete", lambda seen: len(seen) >= 3, timeout=60)
        created, updated, deleted = reader.seen[:3]
    assert created.after is not None and created.after["role"] == large and unavailable_columns(created.after) == ()
    assert updated.before is None and updated.after is not None and updated.after["phone"] == "+49 40 1"
    assert updated.after["role"] == PLACEHOLDER and unavailable_columns(updated.after) == ("role",)
    # a key-only before-image: the key, and a NOT NULL column's default or zero value, never the row's own
    assert deleted.before is not None and deleted.before["id"] == contact[0]
    assert (deleted.before["last_name"], deleted.before["role"]) == ("", None)


@pytest.mark.parametrize(("system", "statement"), [
    ("crm", "TRUNCATE crm.debezium_signal"),
    ("erp", "TRUNCATE TABLE erp.debezium_signal"),
])
def test_a_truncate_arrives_as_a_truncate_event_a_flow_holds(deployed: dict[str, Any], stack: RunningStack,
                                                           system: str, statement: str) -> None:
    """The shipped connectors (`skipped.operations: none`) send a TRUNCATE, here of the signal table (captured, read
    by no flow): a keyless op `t` event that decodes, and that a flow says, counts and holds
    (streams/flows/truncates.py); under Debezium's default it would not arrive at all."""
    bootstrap = stack.settings.bootstrap_servers
    topic = f"{system}.{system}.debezium_signal"
    since = {TopicPartition(topic, p): offset for p, offset in end_positions(bootstrap, topic).items()}
    if system == "crm":
        with stack.connect_crm() as conn:
            conn.execute(statement)
            conn.commit()
    else:
        erp = stack.connect_erp(autocommit=True)
        try:
            with erp.cursor() as cursor:
                cursor.execute(statement)
        finally:
            erp.close()

    with TopicReader(bootstrap, [topic], lambda record: record, start=since) as reader:
        reader.until("the truncate event", lambda seen: any(b'"op":"t"' in (r.value or b"") for r in seen),
                     timeout=60)
        (raw,) = [r for r in reader.seen if b'"op":"t"' in (r.value or b"")]
    event = decode(raw.value, raw.key, topic=topic)
    assert isinstance(event, ChangeEvent) and event.op is Op.TRUNCATE
    assert (raw.key, event.before, event.after, event.table) == (None, None, None, "debezium_signal")

    ctx = RecordContext(memory={})
    incoming = Incoming(topic=topic, partition=raw.partition, offset=raw.offset, key=raw.key, value=raw.value,
                        timestamp_ms=0)
    schemas = SchemaStore.from_directory()
    Truncates(flow="probe", schemas=schemas, systems=load_systems()).seen(ctx, incoming, event)
    ((emitted, hold),) = [(e, dict(schemas.decode(e.value, HOLD_SCHEMA).value)) for e in ctx.emitted if e.value]
    assert emitted.key == f"probe:truncate:{topic}".encode() and ctx.counts["truncates"] == 1
    assert (hold["cause"], hold["origin"]) == ("truncated", system)
    assert f"table {system}.debezium_signal was truncated" in hold["message"]
