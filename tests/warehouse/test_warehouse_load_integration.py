"""The loader on the real stack: a CRM and ERP scenario through the real connectors and the real flows
(``isthmus-customers`` and ``isthmus-canonical``, in this process, publishing under a topic prefix of this
module's own) onto the canonical topics, and from there into the warehouse.

One load per module (its own schema, ERP zone America/New_York, one record per transaction): the loader is
killed with SIGKILL after its first commit, restarted, and the tests then compare the warehouse with the
sources. A second canonical flow in Asia/Shanghai, loaded into a second schema, shows that zone's times.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from kafka import TopicPartition
from support.flows import RunningFlow
from support.systems import reference_systems
from support.topics import Record, TopicReader, end_offsets, record_at, records_to_end
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, decode
from streams.flows.canonical import CanonicalFlow, Lineage
from streams.flows.context import FlowContext
from streams.flows.customers import CustomerFlow
from streams.kafka.deadletters import DEAD_LETTER_TYPE, DLQ_TOPIC
from streams.stack.running import RunningStack
from streams.warehouse.tables_file import load_tables

pytestmark = pytest.mark.integration

UTC = dt.UTC
ZONE = "America/New_York"
#: Payments of a second customer's account: enough canonical records that the loader (one record per
#: transaction) is still loading when it is killed. The account is linked to a CRM customer, as accounts
#: are: the orders flow keeps the payments of an account it cannot place in one parked state value, and 300
#: of them would not fit one Kafka record.
BULK_PAYMENTS = 300


@dataclass
class Scenario:
    n: str
    customer_id: int
    bad_customer_id: int
    crm_order_id: int
    account_id: int
    bulk_account_id: int
    order_ids: list[int]
    invoice_ids: list[int]
    payment_ids: list[int]
    skipped_invoice_id: int


def _erp_scenario(stack: RunningStack, n: str, customer_number: str, bulk_customer_number: str) -> dict[str, Any]:
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
            cur.execute("INSERT INTO accounts (account_code, name, crm_customer_number) VALUES (%s, %s, %s)",
                        (f"WB{n}", f"WH bulk {n}", bulk_customer_number))
            bulk = cur.lastrowid
            cur.execute("INSERT INTO sales_orders (order_no, account_id, order_date, total_amount) "
                        "VALUES (%s, %s, '2024-06-01 10:00:00', 100)", (f"WB{n}", bulk))
            bulk_order = cur.lastrowid
            cur.execute("INSERT INTO invoices (invoice_no, order_id, account_id, amount, issued_at, due_date) "
                        "VALUES (%s, %s, %s, 100, '2024-06-01 10:00:00', '2024-07-01')", (f"WBI{n}", bulk_order, bulk))
            bulk_invoice = cur.lastrowid
            cur.executemany("INSERT INTO payments (invoice_id, account_id, amount, paid_at) "
                            "VALUES (%s, %s, %s, '2024-06-02 10:00:00')",
                            [(bulk_invoice, bulk, Decimal(i % 7) + Decimal("0.01")) for i in range(BULK_PAYMENTS)])
        return {"account_id": account_id, "bulk_account_id": bulk, "order_ids": orders, "invoice_ids": invoices,
                "payment_ids": payments}
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
        cur.execute("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (f"C-{n}2", f"WH bulk {n}"))
    erp = _erp_scenario(stack, n, customer_number, f"C-{n}2")
    return Scenario(n=n, customer_id=customer_id, bad_customer_id=bad_id, crm_order_id=crm_order_id,
                    account_id=erp["account_id"], bulk_account_id=erp["bulk_account_id"], order_ids=erp["order_ids"],
                    invoice_ids=erp["invoice_ids"], payment_ids=erp["payment_ids"],
                    skipped_invoice_id=erp["invoice_ids"][2])


@dataclass
class Loaded:
    stack: RunningStack
    tag: str
    schema: str
    prefix: str
    scenario: Scenario
    committed_at_kill: int
    end_at_kill: int
    dlq_start: dict[int, int]
    shanghai_schema: str

    def query(self, statement: str, *params: Any, schema: str | None = None) -> list[tuple[Any, ...]]:
        with self.stack.connect_crm(dbname="warehouse") as conn:
            conn.execute(f"SET search_path TO {schema or self.schema}")
            return conn.execute(statement, params).fetchall()


def _erp_totals(stack: RunningStack, s: Scenario) -> dict[str, tuple[Any, ...]]:
    accounts = f"{s.account_id},{s.bulk_account_id}"
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cur:
            found = {}
            for name, statement in {
                "orders": f"SELECT count(*), sum(total_amount) FROM sales_orders WHERE account_id IN ({accounts})",
                "lines": "SELECT count(*), sum(l.quantity * l.unit_price) FROM sales_order_lines l JOIN sales_orders o "
                         f"ON o.order_id = l.order_id WHERE o.account_id IN ({accounts})",
                "invoices": f"SELECT count(*), sum(amount) FROM invoices WHERE account_id IN ({accounts})",
                "payments": f"SELECT count(*), sum(amount) FROM payments WHERE account_id IN ({accounts})",
            }.items():
                cur.execute(statement)
                found[name] = tuple(cur.fetchone())
            return found
    finally:
        conn.close()


def _warehouse_totals(loaded: Loaded) -> dict[str, tuple[Any, ...]]:
    s = loaded.scenario
    accounts = [s.account_id, s.bulk_account_id]
    return {
        "orders": loaded.query("SELECT count(*), sum(total_amount) FROM fact_sales_order "
                               "WHERE account_id = ANY(%s) AND NOT deleted", accounts)[0],
        "lines": loaded.query("SELECT count(*), sum(l.line_amount) FROM fact_order_line l JOIN fact_sales_order o "
                              "ON o.order_id = l.order_id WHERE o.account_id = ANY(%s) AND NOT l.deleted",
                              accounts)[0],
        "invoices": loaded.query("SELECT count(*), sum(amount) FROM fact_invoice WHERE account_id = ANY(%s) "
                                 "AND NOT deleted", accounts)[0],
        "payments": loaded.query("SELECT count(*), sum(amount) FROM fact_payment WHERE account_id = ANY(%s) "
                                 "AND NOT deleted", accounts)[0],
    }


def _positions(stack: RunningStack, schema: str) -> int:
    with stack.connect_crm(dbname="warehouse") as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.load_offsets",)).fetchone()
        if not exists or exists[0] is None:
            return 0
        row = conn.execute(f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.load_offsets").fetchone()
        return int(row[0]) if row else 0


def _end_offsets(stack: RunningStack, topics: list[str]) -> dict[TopicPartition, int]:
    return end_offsets(stack.settings.bootstrap_servers, topics)


def _canonical_topics(prefix: str) -> list[str]:
    return [f"{prefix}.{name}" for name in load_tables().by_topic]


def _count(stack: RunningStack, topic: str, wanted: Callable[[dict[str, Any]], bool], schemas: SchemaStore) -> int:
    """Committed records on ``topic`` whose decoded value ``wanted`` accepts."""
    return sum(1 for r in records_to_end(stack.settings.bootstrap_servers, [topic])
               if r.value is not None and wanted(dict(schemas.decode(r.value).value)))


def _dlq_end(stack: RunningStack) -> dict[int, int]:
    return {tp.partition: o for tp, o in _end_offsets(stack, [DLQ_TOPIC]).items()}


def _start_loader(schema: str, prefix: str, *, once: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ISTHMUS_WAREHOUSE_SCHEMA": schema, "ISTHMUS_CANONICAL_PREFIX": prefix,
           "ISTHMUS_WAREHOUSE_BATCH": "1", "ISTHMUS_WAREHOUSE_METRICS_PORT": "0"}
    return subprocess.Popen([sys.executable, "-m", "streams.cli.main", "warehouse", "load", *(["--once"] * once)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _progress(loaded: Loaded) -> dict[str, Any]:
    """What the warehouse holds of the scenario, in the terms of :func:`_expected`."""
    s = loaded.scenario
    return {**_warehouse_totals(loaded),
            "rejected customer": loaded.query("SELECT count(*) FROM load_rejects WHERE source_key = %s",
                                              json.dumps({"id": s.bad_customer_id}, separators=(",", ":")))[0][0],
            "crm order": loaded.query("SELECT count(*) FROM fact_crm_order WHERE crm_order_id = %s",
                                      s.crm_order_id)[0][0],
            "account": loaded.query("SELECT count(*) FROM dim_account WHERE erp_account_id = %s", s.account_id)[0][0]}


def _expected(loaded: Loaded) -> dict[str, Any]:
    return {**_erp_totals(loaded.stack, loaded.scenario), "rejected customer": 1, "crm order": 1, "account": 1}


def _exited(process: subprocess.Popen[bytes], what: str) -> bool:
    """False while the loader runs; a failure with its output once it exited before ``what``."""
    if process.poll() is not None:
        raise AssertionError(f"the loader exited ({process.returncode}) before {what}: "
                             f"{process.stderr.read().decode() if process.stderr else ''}")
    return False


def _flows(stack: RunningStack, tag: str, prefix: str, zone: str, context: FlowContext) -> list[RunningFlow]:
    """The customers and canonical flows under names, command topics and canonical topics of their own."""
    systems = reference_systems(zone)
    canonical = CanonicalFlow(schemas=context.schemas, mappings=context.mappings, systems=systems,
                              name=f"test-canonical-{tag}", prefix=prefix)
    flows = [RunningFlow(canonical.spec(), stack.settings.bootstrap_servers, context.schemas)]
    if zone == ZONE:
        customers = CustomerFlow(mappings=context.mappings, schemas=context.schemas, systems=systems,
                                 command_topics={"crm": f"{prefix}.commands.crm", "erp": f"{prefix}.commands.erp"},
                                 canonical_topic=f"{prefix}.customers")
        spec = customers.spec()
        spec = dataclasses.replace(spec, name=f"test-customers-{tag}",
                                   outputs=(*spec.outputs, f"{prefix}.commands.crm", f"{prefix}.commands.erp"))
        flows.append(RunningFlow(spec, stack.settings.bootstrap_servers, context.schemas))
    return flows


@pytest.fixture(scope="module")
def loaded(stack: RunningStack) -> Iterator[Loaded]:
    tag = str(random.randrange(10**8, 10**9))
    schema, shanghai_schema = f"wh_test_{tag}", f"wh_test_{tag}_sh"
    prefix, shanghai_prefix = f"test-wh-{tag}.canonical", f"test-wh-{tag}-sh.canonical"
    context = FlowContext.load()
    flows = [*_flows(stack, tag, prefix, ZONE, context),
             *_flows(stack, f"{tag}-sh", shanghai_prefix, "Asia/Shanghai", context)]
    started: list[RunningFlow] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for flow in flows:
            started.append(flow.__enter__())
        dlq_start = _dlq_end(stack)
        scenario = _scenario(stack)
        eventually("the canonical payments", lambda: _count(
            stack, f"{prefix}.payments", lambda v: v["erp_account_id"] == scenario.bulk_account_id, context.schemas)
                   == BULK_PAYMENTS, timeout=180, every=1)
        first = _start_loader(schema, prefix)
        processes.append(first)
        eventually("the first commit", lambda: _positions(stack, schema) > 0 or _exited(first, "the first commit"),
                   timeout=120, every=0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        committed = _positions(stack, schema)
        end = sum(_end_offsets(stack, _canonical_topics(prefix)).values())
        loaded = Loaded(stack=stack, tag=tag, schema=schema, prefix=prefix, scenario=scenario,
                        committed_at_kill=committed, end_at_kill=end, dlq_start=dlq_start,
                        shanghai_schema=shanghai_schema)
        second = _start_loader(schema, prefix)
        processes.append(second)
        eventually("the scenario in the warehouse",
                   lambda: _progress(loaded) == _expected(loaded) or _exited(second, "the scenario in the warehouse"),
                   timeout=180, every=0.2, context=lambda: f"loaded {_progress(loaded)}, expected {_expected(loaded)}")
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
        eventually("the Shanghai canonical orders", lambda: _count(
            stack, f"{shanghai_prefix}.erp-orders", lambda v: v["erp_order_id"] in scenario.order_ids, context.schemas)
                   >= 3, timeout=120, every=1)
        shanghai = _start_loader(shanghai_schema, shanghai_prefix, once=True)
        processes.append(shanghai)
        assert shanghai.wait(120) == 0
        yield loaded
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for flow in reversed(started):
            flow.__exit__(None, None, None)
        with stack.connect_crm(dbname="warehouse", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {shanghai_schema} CASCADE")


def test_the_loader_was_killed_mid_load(loaded: Loaded) -> None:
    assert 0 < loaded.committed_at_kill < loaded.end_at_kill


def test_counts_and_money_equal_the_sources_with_no_duplicates(loaded: Loaded) -> None:
    s = loaded.scenario
    assert _warehouse_totals(loaded) == _erp_totals(loaded.stack, s)
    assert _warehouse_totals(loaded)["lines"] == (6, Decimal("90.45000"))
    assert _warehouse_totals(loaded)["payments"][0] == 3 + BULK_PAYMENTS
    status = loaded.query("SELECT status FROM fact_sales_order WHERE order_id = %s", s.order_ids[0])
    assert status == [("paid",)]  # the update, a later canonical record, won over the insert
    assert loaded.query("SELECT count(*), count(DISTINCT (topic, partition, \"offset\")) FROM load_rejects") == \
           [(1, 1)]


def test_dimensions_are_cleaned_and_client_code_prefixed(loaded: Loaded) -> None:
    s = loaded.scenario
    rows = loaded.query("SELECT client_code, name, email, phone, erp_account_id FROM dim_client "
                        "WHERE crm_customer_id = %s", s.customer_id)
    assert rows == [(f"CL-{s.customer_id}", f"WH test {s.n}", f"wh.{s.n}@example.com", "+15550100100",
                     s.account_id)]
    assert loaded.query("SELECT account_code, crm_customer_number FROM dim_account WHERE erp_account_id = %s",
                        s.account_id) == [(f"WH{s.n}", f"C-{s.n}")]
    assert loaded.query("SELECT count(*) FROM dim_client WHERE crm_customer_id = %s", s.bad_customer_id) == [(0,)]
    assert loaded.query("SELECT description, unit_price FROM dim_product WHERE sku = %s", f"WH-{s.n}") == \
           [(f"Warehouse test {s.n}", Decimal("2.50"))]


def test_erp_times_become_utc_across_the_dst_change_and_in_shanghai(loaded: Loaded) -> None:
    s = loaded.scenario
    statement = "SELECT order_id, transaction_time FROM fact_sales_order WHERE order_id = ANY(%s)"
    rows = dict(loaded.query(statement, s.order_ids))
    assert rows[s.order_ids[0]] == dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC)  # 01:30 EST (UTC-5)
    assert rows[s.order_ids[1]] == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)  # 03:30 EDT (UTC-4)
    lines = loaded.query("SELECT DISTINCT transaction_time, date_key FROM fact_order_line WHERE order_id = %s",
                         s.order_ids[1])
    assert lines == [(dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC), 20240310)]
    paid = loaded.query("SELECT transaction_time FROM fact_payment WHERE payment_id = %s", s.payment_ids[1])
    assert paid == [(dt.datetime(2024, 3, 25, 20, 45, tzinfo=UTC),)]
    shanghai = dict(loaded.query(statement, s.order_ids, schema=loaded.shanghai_schema))
    assert shanghai == {  # UTC+8 all year: no daylight saving in China
        s.order_ids[0]: dt.datetime(2024, 3, 9, 17, 30, tzinfo=UTC),
        s.order_ids[1]: dt.datetime(2024, 3, 9, 19, 30, tzinfo=UTC),
        s.order_ids[2]: dt.datetime(2024, 3, 9, 4, 0, tzinfo=UTC),
    }
    invoice = loaded.query("SELECT transaction_time FROM fact_invoice WHERE invoice_id = %s", s.skipped_invoice_id,
                           schema=loaded.shanghai_schema)
    assert invoice == [(dt.datetime(2024, 3, 9, 18, 30, tzinfo=UTC),)]  # a time Shanghai had


def _dead_letters(loaded: Loaded, match: Callable[[Mapping[str, Any]], bool]) -> list[Mapping[str, Any]]:
    schemas = SchemaStore.from_directory()
    start = {TopicPartition(DLQ_TOPIC, p): offset for p, offset in loaded.dlq_start.items()}

    def letter(record: Record) -> Mapping[str, Any] | None:
        if record.value is None:
            return None
        found: Mapping[str, Any] = schemas.decode(record.value, DEAD_LETTER_TYPE).value
        return found if match(found) else None

    with TopicReader(loaded.stack.settings.bootstrap_servers, [DLQ_TOPIC], letter, start=start) as reader:
        return reader.until("the dead letter", lambda seen: list(seen), timeout=30)


def test_a_row_the_cleaning_rules_refuse_is_recorded_and_dead_lettered_with_the_reason(loaded: Loaded) -> None:
    s = loaded.scenario
    rejects = loaded.query("SELECT topic, partition, \"offset\", reason FROM load_rejects WHERE source_key = %s",
                           json.dumps({"id": s.bad_customer_id}, separators=(",", ":")))
    assert len(rejects) == 1
    topic, partition, offset, reason = rejects[0]
    assert topic == f"{loaded.prefix}.customers"
    assert "email 'not an address' is not an e-mail address" in reason
    found = _dead_letters(loaded, lambda letter: (letter["stage"], letter["topic"], letter["offset"])
                          == ("warehouse.load", topic, offset))
    assert found and found[0]["reason"] == reason and found[0]["partition"] == partition


def test_an_erp_time_that_never_was_is_loaded_shifted_and_flagged_in_its_lineage(loaded: Loaded) -> None:
    """invoice.yaml's `local_times: {skipped: shift_forward}`: 02:30 on New York's spring-forward day is loaded
    as 03:30 EDT, and the canonical record it came from says so in its lineage header."""
    s = loaded.scenario
    ((time_of, topic, partition, offset),) = loaded.query(
        "SELECT transaction_time, source_topic, source_partition, source_offset FROM fact_invoice "
        "WHERE invoice_id = %s", s.skipped_invoice_id)
    assert time_of == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    (note,) = Lineage.from_headers(_read(loaded, topic, partition, offset).headers).local_times
    assert (note["field"], note["local"], note["case"], note["resolution"]) == (
        "issued_at", "2024-03-10T02:30:00", "skipped", "shift_forward 1:00:00")


def _read(loaded: Loaded, topic: str, partition: int, offset: int) -> Record:
    return record_at(loaded.stack.settings.bootstrap_servers, topic, partition, offset)


def test_lineage_leads_back_to_the_exact_kafka_records(loaded: Loaded) -> None:
    s = loaded.scenario
    (row,) = loaded.query("SELECT payment_id, amount, source_system, source_table, source_key, source_topic, "
                          "source_partition, source_offset, cdc_topic, cdc_partition, cdc_offset, source_commit_time, "
                          "mapping_version FROM fact_payment WHERE payment_id = %s", s.payment_ids[2])
    (payment_id, amount, system, table, key, topic, partition, offset, cdc_topic, cdc_partition, cdc_offset,
     commit_time, version) = row
    assert (system, table, topic, cdc_topic) == ("erp", "payments", f"{loaded.prefix}.payments", "erp.erp.payments")
    assert version.startswith("payment@")
    canonical = _read(loaded, topic, partition, offset)
    value = SchemaStore.from_directory().decode(canonical.value).value
    assert (value["payment_id"], value["amount"]) == (payment_id, amount)
    lineage = Lineage.from_headers(canonical.headers)
    assert (lineage.topic, lineage.partition, lineage.offset, lineage.mapping_version) == \
           (cdc_topic, cdc_partition, cdc_offset, version)
    cdc = _read(loaded, cdc_topic, cdc_partition, cdc_offset)
    event = decode(cdc.value, cdc.key, topic=cdc_topic)
    assert isinstance(event, ChangeEvent) and event.after is not None
    assert (event.after["payment_id"], event.after["amount"]) == (payment_id, amount)
    assert json.loads(key) == dict(event.key or {})
    assert event.source.commit_time == commit_time


def test_views_answer_for_the_scenario(loaded: Loaded) -> None:
    s = loaded.scenario
    clv = loaded.query("SELECT crm_orders, crm_ordered_amount, invoices, invoiced_amount, lifetime_value, open_amount "
                       "FROM v_customer_lifetime_value WHERE client_code = %s", f"CL-{s.customer_id}")
    # the third invoice (issued at a time New York skipped) is loaded too, shifted: invoiced, not paid
    assert clv == [(1, Decimal("42.10"), 3, Decimal("90.15"), Decimal("60.10"), Decimal("30.05"))]
    cash = dict(loaded.query("SELECT order_id, cycle_days FROM v_order_to_cash WHERE order_id = ANY(%s)",
                             s.order_ids))
    # order 0: 2024-03-10 06:30Z -> last payment 2024-03-25 20:45Z (EDT)
    assert cash[s.order_ids[0]] == Decimal("15.594")
    assert cash[s.order_ids[2]] is None
    turnover = loaded.query("SELECT quantity_sold, revenue FROM v_inventory_turnover WHERE sku = %s", f"WH-{s.n}")
    assert turnover == [(Decimal("16.500"), Decimal("90.45000"))]
    fresh = loaded.query("SELECT live_rows FROM v_freshness WHERE source_system = 'erp' AND source_table = 'payments'")
    assert fresh and fresh[0][0] >= 3 + BULK_PAYMENTS
