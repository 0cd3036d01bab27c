"""The loader on the real stack: a CRM and ERP scenario through the real connectors into the warehouse.

One load per module (its own schema, ERP zone America/New_York, small batches): the loader is killed with
SIGKILL after its first commit, restarted, and the tests then compare the warehouse with the sources.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, decode
from streams.kafka.deadletters import DEAD_LETTER_TYPE, DLQ_TOPIC
from streams.stack.running import RunningStack

UTC = dt.UTC
ZONE = "America/New_York"


@dataclass
class Scenario:
    n: str
    customer_id: int
    bad_customer_id: int
    crm_order_id: int
    account_id: int
    order_ids: list[int]
    invoice_ids: list[int]
    payment_ids: list[int]
    skipped_invoice_id: int


def _erp_scenario(stack: RunningStack, n: str, customer_number: str) -> dict[str, Any]:
    conn = stack.connect_erp(autocommit=True)
    try:
        with conn.cursor() as cur:
            sku = f"WH-{n}"
            cur.execute("INSERT INTO products (sku, description, unit_price) VALUES (%s, %s, 2.50)",
                        (sku, f"Warehouse test {n}"))
            cur.execute("INSERT INTO accounts (account_code, name, email, phone, crm_customer_number) "
                        "VALUES (%s, %s, %s, %s, %s)", (f"WH{n}", f"WH account {n}", f"wh{n}@example.com",
                                                         "+86 21 5555 0000", customer_number))
            account_id = cur.lastrowid
            orders: list[int] = []
            invoices: list[int] = []
            payments: list[int] = []
            # Wall-clock times around New York's spring-forward (2024-03-10 02:00 -> 03:00).
            times = ["2024-03-10 01:30:00", "2024-03-10 03:30:00", "2024-03-09 12:00:00"]
            for i, order_date in enumerate(times):
                cur.execute("INSERT INTO sales_orders (order_no, account_id, order_date, total_amount) "
                            "VALUES (%s, %s, %s, %s)", (f"WH{n}-{i}", account_id, order_date, Decimal("30.05")))
                order_id = cur.lastrowid
                orders.append(order_id)
                for line_no, (qty, price) in enumerate([("2.000", "10.00"), ("3.500", "2.90")], start=1):
                    cur.execute("INSERT INTO sales_order_lines (order_id, line_no, sku, warehouse_code, quantity, "
                                "unit_price) VALUES (%s, %s, %s, 'WH1', %s, %s)",
                                (order_id, line_no, sku, Decimal(qty), Decimal(price)))
            issued = ["2024-03-11 09:00:00", "2024-03-12 09:00:00", "2024-03-10 02:30:00"]  # the last never was
            for i, (order_id, issued_at) in enumerate(zip(orders, issued, strict=True)):
                cur.execute("INSERT INTO invoices (invoice_no, order_id, account_id, amount, issued_at, due_date) "
                            "VALUES (%s, %s, %s, %s, %s, '2024-04-10')",
                            (f"WHI{n}-{i}", order_id, account_id, Decimal("30.05"), issued_at))
                invoices.append(cur.lastrowid)
            paid = [(Decimal("20.00"), "2024-03-20 10:00:00"), (Decimal("10.05"), "2024-03-25 16:45:00"),
                    (Decimal("30.05"), "2024-03-21 08:00:00")]
            for amount, paid_at in paid:
                invoice = invoices[0] if len(payments) < 2 else invoices[1]
                cur.execute("INSERT INTO payments (invoice_id, account_id, amount, paid_at) VALUES (%s, %s, %s, %s)",
                            (invoice, account_id, amount, paid_at))
                payments.append(cur.lastrowid)
            cur.execute("UPDATE sales_orders SET status = 'paid' WHERE order_id IN (%s, %s)", (orders[0], orders[1]))
            cur.execute("UPDATE invoices SET status = 'paid' WHERE invoice_id IN (%s, %s)", (invoices[0], invoices[1]))
        return {"account_id": account_id, "order_ids": orders, "invoice_ids": invoices, "payment_ids": payments}
    finally:
        conn.close()


def _scenario(stack: RunningStack) -> Scenario:
    n = str(random.randrange(10**8, 10**9))
    customer_number = f"C-{n}"
    with stack.connect_crm() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO crm.customers (customer_number, name, email, phone) VALUES (%s, %s, %s, %s) "
                    "RETURNING id", (customer_number, f"  WH test {n} ", f" WH.{n}@Example.COM ", "+1 (555) 010-0100"))
        customer_id = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s) RETURNING id",
                    (f"C-{n}1", f"WH bad {n}", "not an address"))
        bad_id = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("INSERT INTO crm.sales_orders (order_number, customer_id, total_amount) VALUES (%s, %s, 42.10) "
                    "RETURNING id", (f"SO-{n}", customer_id))
        crm_order_id = cur.fetchone()[0]  # type: ignore[index]
    erp = _erp_scenario(stack, n, customer_number)
    return Scenario(n=n, customer_id=customer_id, bad_customer_id=bad_id, crm_order_id=crm_order_id,
                    account_id=erp["account_id"], order_ids=erp["order_ids"], invoice_ids=erp["invoice_ids"],
                    payment_ids=erp["payment_ids"], skipped_invoice_id=erp["invoice_ids"][2])


@dataclass
class Loaded:
    stack: RunningStack
    schema: str
    scenario: Scenario
    committed_at_kill: int
    end_at_kill: int
    dlq_start: dict[int, int]

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.stack.connect_crm(dbname="warehouse") as conn:
            conn.execute(f"SET search_path TO {self.schema}")
            return conn.execute(statement, params).fetchall()


def _erp_totals(stack: RunningStack, s: Scenario) -> dict[str, tuple[Any, ...]]:
    orders = ",".join(map(str, s.order_ids))
    valid_invoices = ",".join(str(i) for i in s.invoice_ids if i != s.skipped_invoice_id)
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cur:
            found = {}
            for name, statement in {
                "orders": f"SELECT count(*), sum(total_amount) FROM sales_orders WHERE order_id IN ({orders})",
                "lines": "SELECT count(*), sum(quantity * unit_price) FROM sales_order_lines "
                         f"WHERE order_id IN ({orders})",
                "invoices": f"SELECT count(*), sum(amount) FROM invoices WHERE invoice_id IN ({valid_invoices})",
                "payments": f"SELECT count(*), sum(amount) FROM payments WHERE account_id = {s.account_id}",
            }.items():
                cur.execute(statement)
                found[name] = tuple(cur.fetchone())
            return found
    finally:
        conn.close()


def _warehouse_totals(loaded: Loaded) -> dict[str, tuple[Any, ...]]:
    s = loaded.scenario
    orders = list(s.order_ids)
    return {
        "orders": loaded.query("SELECT count(*), sum(total_amount) FROM fact_sales_order WHERE order_id = ANY(%s) "
                               "AND NOT deleted", orders)[0],
        "lines": loaded.query("SELECT count(*), sum(line_amount) FROM fact_order_line WHERE order_id = ANY(%s) "
                              "AND NOT deleted", orders)[0],
        "invoices": loaded.query("SELECT count(*), sum(amount) FROM fact_invoice WHERE account_id = %s AND NOT deleted",
                                 s.account_id)[0],
        "payments": loaded.query("SELECT count(*), sum(amount) FROM fact_payment WHERE account_id = %s AND NOT deleted",
                                 s.account_id)[0],
    }


def _offsets(stack: RunningStack, schema: str) -> int:
    with stack.connect_crm(dbname="warehouse") as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.load_offsets",)).fetchone()
        if not exists or exists[0] is None:
            return 0
        row = conn.execute(f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.load_offsets").fetchone()
        return int(row[0]) if row else 0


def _end_offsets(stack: RunningStack) -> int:
    from streams.warehouse.tables import TABLES
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.bootstrap_servers)
    try:
        parts = [TopicPartition(t.topic, p) for t in TABLES for p in consumer.partitions_for_topic(t.topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def _dlq_end(stack: RunningStack) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.bootstrap_servers)
    try:
        parts = [TopicPartition(DLQ_TOPIC, p) for p in consumer.partitions_for_topic(DLQ_TOPIC) or ()]
        return {tp.partition: o for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def _start_loader(schema: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ISTHMUS_WAREHOUSE_SCHEMA": schema, "ISTHMUS_ERP_TIME_ZONE": ZONE,
           "ISTHMUS_WAREHOUSE_BATCH": "25"}
    return subprocess.Popen([sys.executable, "-m", "streams.cli.main", "warehouse", "load"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(predicate: Any, timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the loader exited ({process.returncode}) before {what}: "
                                 f"{process.stderr.read().decode() if process.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def loaded(stack: RunningStack) -> Iterator[Loaded]:
    schema = f"wh_test_{random.randrange(10**8, 10**9)}"
    scenario = _scenario(stack)
    dlq_start = _dlq_end(stack)
    first = _start_loader(schema)
    try:
        _wait(lambda: _offsets(stack, schema) > 0, 120, "the first commit", first)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        committed = _offsets(stack, schema)
        end = _end_offsets(stack)
    finally:
        if first.poll() is None:
            first.kill()
    box: dict[str, Loaded] = {}
    loaded = Loaded(stack=stack, schema=schema, scenario=scenario, committed_at_kill=committed, end_at_kill=end,
                    dlq_start=dlq_start)
    box["l"] = loaded
    second = _start_loader(schema)
    try:
        _wait(lambda: _warehouse_totals(loaded) == _erp_totals(stack, scenario)
              and loaded.query("SELECT count(*) FROM load_rejects WHERE reason LIKE %s",
                               f"%{scenario.bad_customer_id}%")[0][0] == 1
              and loaded.query("SELECT count(*) FROM fact_crm_order WHERE crm_order_id = %s",
                               scenario.crm_order_id)[0][0] == 1
              and loaded.query("SELECT count(*) FROM dim_account WHERE erp_account_id = %s",
                               scenario.account_id)[0][0] == 1,
              180, "the scenario in the warehouse", second)
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
        yield loaded
    finally:
        if second.poll() is None:
            second.kill()
        with stack.connect_crm(dbname="warehouse", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_the_loader_was_killed_mid_load(loaded: Loaded) -> None:
    assert 0 < loaded.committed_at_kill < loaded.end_at_kill


def test_counts_and_money_equal_the_sources_with_no_duplicates(loaded: Loaded) -> None:
    s = loaded.scenario
    assert _warehouse_totals(loaded) == _erp_totals(loaded.stack, s)
    assert _warehouse_totals(loaded)["lines"] == (6, Decimal("90.45000"))
    for table, column, ids in [("fact_sales_order", "order_id", s.order_ids),
                               ("fact_invoice", "invoice_id", s.invoice_ids),
                               ("fact_payment", "payment_id", s.payment_ids)]:
        rows = loaded.query(f"SELECT {column}, source_offset FROM {table} WHERE {column} = ANY(%s)", list(ids))
        assert len(rows) == len({r[0] for r in rows})
    status = loaded.query("SELECT status FROM fact_sales_order WHERE order_id = %s", s.order_ids[0])
    assert status == [("paid",)]  # the update, a later offset, won over the insert


def test_dimensions_are_cleaned_and_client_code_prefixed(loaded: Loaded) -> None:
    s = loaded.scenario
    rows = loaded.query("SELECT client_code, name, email, phone FROM dim_client WHERE crm_customer_id = %s",
                        s.customer_id)
    assert rows == [(f"CL-{s.customer_id}", f"WH test {s.n}", f"wh.{s.n}@example.com", "+15550100100")]
    assert loaded.query("SELECT phone FROM dim_account WHERE erp_account_id = %s", s.account_id) == [("+862155550000",)]
    assert loaded.query("SELECT count(*) FROM dim_client WHERE crm_customer_id = %s", s.bad_customer_id) == [(0,)]


def test_erp_times_become_utc_across_the_dst_change(loaded: Loaded) -> None:
    s = loaded.scenario
    rows = dict(loaded.query("SELECT order_id, transaction_time FROM fact_sales_order WHERE order_id = ANY(%s)",
                             s.order_ids))
    assert rows[s.order_ids[0]] == dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC)  # 01:30 EST (UTC-5)
    assert rows[s.order_ids[1]] == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)  # 03:30 EDT (UTC-4)
    lines = loaded.query("SELECT DISTINCT transaction_time, date_key FROM fact_order_line WHERE order_id = %s",
                         s.order_ids[1])
    assert lines == [(dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC), 20240310)]
    paid = loaded.query("SELECT transaction_time FROM fact_payment WHERE payment_id = %s", s.payment_ids[1])
    assert paid == [(dt.datetime(2024, 3, 25, 20, 45, tzinfo=UTC),)]


def test_a_rejected_row_is_recorded_and_dead_lettered_with_the_reason(loaded: Loaded) -> None:
    s = loaded.scenario
    rejects = loaded.query("SELECT topic, partition, \"offset\", reason FROM load_rejects WHERE source_key = %s",
                           json.dumps({"invoice_id": s.skipped_invoice_id}, separators=(",", ":")))
    assert len(rejects) == 1
    topic, partition, offset, reason = rejects[0]
    assert "issued_at: 2024-03-10T02:30:00 does not exist in America/New_York" in reason
    assert loaded.query("SELECT count(*) FROM fact_invoice WHERE invoice_id = %s", s.skipped_invoice_id) == [(0,)]
    schemas = SchemaStore.from_directory()
    consumer = KafkaConsumer(bootstrap_servers=loaded.stack.settings.bootstrap_servers, enable_auto_commit=False,
                             isolation_level="read_committed")
    try:
        parts = [TopicPartition(DLQ_TOPIC, p) for p in loaded.dlq_start]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, loaded.dlq_start[tp.partition])
        found: list[Mapping[str, Any]] = []
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    letter = schemas.decode(record.value, DEAD_LETTER_TYPE).value
                    if (letter["stage"], letter["topic"], letter["offset"]) == ("warehouse.load", topic, offset):
                        found.append(letter)
    finally:
        consumer.close()
    assert found and found[0]["reason"] == reason and found[0]["partition"] == partition


def test_lineage_leads_back_to_the_exact_kafka_record(loaded: Loaded) -> None:
    s = loaded.scenario
    (row,) = loaded.query("SELECT payment_id, amount, source_system, source_table, source_key, source_topic, "
                          "source_partition, source_offset, source_commit_time, mapping_version FROM fact_payment "
                          "WHERE payment_id = %s", s.payment_ids[2])
    payment_id, amount, system, table, key, topic, partition, offset, commit_time, version = row
    assert (system, table, topic, version) == ("erp", "payments", "erp.erp.payments", "warehouse-1")
    consumer = KafkaConsumer(bootstrap_servers=loaded.stack.settings.bootstrap_servers, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        records = consumer.poll(timeout_ms=10000, max_records=1).get(tp, [])
    finally:
        consumer.close()
    assert records and records[0].offset == offset
    event = decode(records[0].value, records[0].key, topic=topic)
    assert isinstance(event, ChangeEvent) and event.after is not None
    assert (event.after["payment_id"], event.after["amount"]) == (payment_id, amount)
    assert json.loads(key) == dict(event.key or {})
    assert event.source.commit_time == commit_time


def test_views_answer_for_the_scenario(loaded: Loaded) -> None:
    s = loaded.scenario
    clv = loaded.query("SELECT crm_orders, crm_ordered_amount, invoices, invoiced_amount, lifetime_value, open_amount "
                       "FROM v_customer_lifetime_value WHERE client_code = %s", f"CL-{s.customer_id}")
    assert clv == [(1, Decimal("42.10"), 2, Decimal("60.10"), Decimal("60.10"), Decimal("0.00"))]
    cash = dict(loaded.query("SELECT order_id, cycle_days FROM v_order_to_cash WHERE order_id = ANY(%s)",
                             s.order_ids))
    # order 0: 2024-03-10 06:30Z -> last payment 2024-03-25 20:45Z (EDT)
    assert cash[s.order_ids[0]] == Decimal("15.594")
    assert cash[s.order_ids[2]] is None
    turnover = loaded.query("SELECT quantity_sold, revenue FROM v_inventory_turnover WHERE sku = %s", f"WH-{s.n}")
    assert turnover == [(Decimal("16.500"), Decimal("90.45000"))]
    fresh = loaded.query("SELECT live_rows FROM v_freshness WHERE source_system = 'erp' AND source_table = 'payments'")
    assert fresh and fresh[0][0] >= 3
