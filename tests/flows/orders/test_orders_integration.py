"""Order to cash through the real connectors and databases: a database change, read by Debezium, becomes the
command it should produce on the command topic (read_committed), on both sides; the CRM's echo of a write
produces nothing; the reconciled order (the customer-360 view's orders part) follows.

The flow runs in this process under a name of its own, from the current end of its inputs. The tests write into
the databases what a sink would, to see the echoes come back (sinks running on the shared stack may write the
same: the assertions hold either way).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from order_harness import orders_flow_file
from support.flows import Out, RunningFlow, Watch
from support.systems import reference_systems

from reference.topics import COMMANDS_CRM, COMMANDS_ERP
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.context import FlowContext
from streams.flows.orders import document_flow
from streams.flows.topics import RECONCILED_ORDERS
from streams.stack.running import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("reference_capture")]


@pytest.fixture(scope="module")
def running(stack: RunningStack) -> Iterator[tuple[RunningFlow, Watch]]:
    context = FlowContext.load()
    flow = document_flow(orders_flow_file(), schemas=context.schemas, mappings=context.mappings,
                         systems=reference_systems(stack.settings.erp_time_zone),
                         name=f"test-orders-{uuid.uuid4().hex[:8]}")
    with RunningFlow(flow.spec(), stack.settings.bootstrap_servers, context.schemas) as running:
        watch = Watch(stack.settings.bootstrap_servers, (COMMANDS_CRM, COMMANDS_ERP, RECONCILED_ORDERS),
                      context.schemas)
        try:
            yield running, watch
        finally:
            watch.close()


@pytest.fixture
def watch(running: tuple[RunningFlow, Watch]) -> Watch:
    return running[1]


@pytest.fixture
def run() -> int:
    return random.randrange(10**8, 10**9)


@pytest.fixture
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


def crm_customer(crm: psycopg.Connection[dict[str, Any]], number: str) -> int:
    row = crm.execute("INSERT INTO customers (customer_number, name) VALUES (%s, %s) RETURNING id",
                      (number, f"Flow test {number}")).fetchone()
    assert row is not None
    return int(row["id"])


def crm_products(crm: psycopg.Connection[dict[str, Any]], *skus: str) -> None:
    for sku in skus:
        crm.execute("INSERT INTO products (sku, name, list_price) VALUES (%s, %s, 30.00)", (sku, f"Flow test {sku}"))


def crm_order(crm: psycopg.Connection[dict[str, Any]], number: str, customer: int | str, skus: list[str]) -> int:
    """The order and its lines in one transaction, as the CRM writes them; ``customer`` as a number creates the
    customer in that transaction too."""
    with crm.transaction():
        if isinstance(customer, str):
            customer = crm_customer(crm, customer)
        row = crm.execute("INSERT INTO sales_orders (order_number, customer_id, total_amount) VALUES (%s, %s, %s) "
                          "RETURNING id", (number, customer, 30 * len(skus))).fetchone()
        assert row is not None
        for line_no, sku in enumerate(skus, start=1):
            crm.execute("INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, unit_price) "
                        "VALUES (%s, %s, %s, 1.5, 20.00)", (row["id"], line_no, sku))
    return int(row["id"])


def erp_account(erp: pymysql.connections.Connection[Any], run: int, number: str) -> int:
    """The customer's ERP account, made here unless the customer flow running on the shared stack made it."""
    with erp.cursor() as cur:
        cur.execute("INSERT IGNORE INTO accounts (account_code, name, crm_customer_number) VALUES (%s, %s, %s)",
                    (f"FT{run}{number[-2:]}", f"Flow test {number}", number))
        cur.execute("SELECT account_id FROM accounts WHERE crm_customer_number = %s", (number,))
        row = cur.fetchone()
        assert row is not None
        return int(row["account_id"])


def erp_order(erp: pymysql.connections.Connection[Any], run: int, account_id: int, crm_order_number: str) -> int:
    """The ERP order the create command makes: written here as its sink would, unless a sink running on the
    shared stack already did."""
    with erp.cursor() as cur:
        cur.execute("INSERT IGNORE INTO sales_orders (order_no, account_id, crm_order_number, status, order_date, "
                    "total_amount) VALUES (%s, %s, %s, 'reserved', NOW(3), 60.00)",
                    (f"FT{run}{crm_order_number[-2:]}", account_id, crm_order_number))
        cur.execute("SELECT order_id FROM sales_orders WHERE crm_order_number = %s", (crm_order_number,))
        row = cur.fetchone()
        assert row is not None
        return int(row["order_id"])


def commands(watch: Watch, key: str, topic: str) -> list[Out]:
    return watch.of(key, topic)


def test_an_order_and_its_lines_become_one_erp_create_and_the_erp_status_comes_back_without_echoes(
        running: tuple[RunningFlow, Watch], watch: Watch, crm: psycopg.Connection[dict[str, Any]],
        erp: pymysql.connections.Connection[Any], run: int) -> None:
    customer, order = f"C-{run}01", f"SO-{run}01"
    skus = [f"FT-{run}-A", f"FT-{run}-B"]
    crm_products(crm, *skus)
    customer_id = crm_customer(crm, customer)
    account_id = erp_account(erp, run, customer)
    crm_order(crm, order, customer_id, skus)

    (create,) = watch.until("the ERP create", lambda seen: commands(watch, order, COMMANDS_ERP))
    assert (create.value["target"], create.value["operation"]) == ("erp", "create")
    assert create.value["payload_type"] == "isthmus.canonical.SalesOrder"
    assert create.payload["erp_account_id"] == account_id and create.payload["customer_number"] == customer
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in create.payload["lines"]] == [
        (skus[0], "1.500", "20.00"), (skus[1], "1.500", "20.00")]
    assert create.value["source"]["connector"] == "crm" and create.value["source"]["table"] == "sales_orders"

    erp_order_id = erp_order(erp, run, account_id, order)
    (back,) = watch.until("the status back to the CRM", lambda seen: commands(watch, order, COMMANDS_CRM))
    assert back.value["operation"] == "update" and back.value["changed_fields"] == ["status", "erp_order_id"]
    assert (back.payload["status"], back.payload["erp_order_id"]) == ("reserved", erp_order_id)

    # what the CRM sink would write, then a CRM user's contradicting edit: the echo commands nothing, the
    # edit (committed after it, read after it) is corrected from the ERP
    crm.execute("UPDATE sales_orders SET status = 'reserved', erp_order_id = %s WHERE order_number = %s",
                (erp_order_id, order))
    crm.execute("UPDATE sales_orders SET status = 'paid' WHERE order_number = %s", (order,))
    after = watch.until("the correction", lambda seen: commands(watch, order, COMMANDS_CRM)[1:])
    assert len(after) == 1
    assert after[0].payload["status"] == "reserved" and after[0].value["changed_fields"] == ["status"]
    assert after[0].value["source"]["connector"] == "crm"

    with erp.cursor() as cur:
        cur.execute("UPDATE sales_orders SET status = 'shipped' WHERE order_id = %s", (erp_order_id,))
    shipped = watch.until("the shipped status", lambda seen: [
        c for c in commands(watch, order, COMMANDS_CRM) if c.payload["status"] == "shipped"])
    assert shipped[0].value["changed_fields"] == ["status"]
    assert len(commands(watch, order, COMMANDS_ERP)) == 1

    # the reconciled order the customer-360 view shows (flows/customer360.yaml joins it by customer number)
    published = watch.until("the reconciled order, shipped", lambda seen: [
        v for v in watch.of(order, RECONCILED_ORDERS) if v.value["status"] == "shipped"])[-1].value
    assert published["customer_number"] == customer and published["erp_account_id"] == account_id
    assert published["order_number"] == order and published["erp_order_id"] == erp_order_id


def test_a_new_customers_order_waits_for_its_account_and_invoices_and_payments_move_the_open_balance(
        running: tuple[RunningFlow, Watch], watch: Watch, crm: psycopg.Connection[dict[str, Any]],
        erp: pymysql.connections.Connection[Any], run: int) -> None:
    waiting, other = f"C-{run}02", f"C-{run}03"
    sku = f"FT-{run}-C"
    crm_products(crm, sku)
    # a new customer and its order in one transaction: no ERP account can exist for it yet
    crm_order(crm, f"SO-{run}02", waiting, [sku])
    account_id = erp_account(erp, run, waiting)
    (create,) = watch.until("the waiting order's create", lambda seen: commands(watch, f"SO-{run}02", COMMANDS_ERP))
    assert create.payload["erp_account_id"] == account_id and create.payload["customer_number"] == waiting

    other_id = crm_customer(crm, other)
    other_account = erp_account(erp, run, other)
    crm_order(crm, f"SO-{run}03", other_id, [sku])
    watch.until("the other customer's create", lambda seen: commands(watch, f"SO-{run}03", COMMANDS_ERP))
    erp_order_id = erp_order(erp, run, other_account, f"SO-{run}03")
    with erp.cursor() as cur:
        cur.execute("INSERT INTO invoices (invoice_no, order_id, account_id, amount, issued_at, due_date) "
                    "VALUES (%s, %s, %s, 100.00, NOW(3), CURDATE())", (f"FT{run}I1", erp_order_id, other_account))
        invoice_id = cur.lastrowid
        cur.execute("INSERT INTO payments (invoice_id, account_id, amount, paid_at) VALUES (%s, %s, 35.50, NOW(3))",
                    (invoice_id, other_account))
    balance = watch.until("the open balance after the payment", lambda seen: [
        c for c in commands(watch, other, COMMANDS_CRM) if c.payload.get("open_balance") == "64.50"])
    assert balance[0].value["payload_type"] == "isthmus.canonical.Customer"
    assert balance[0].value["changed_fields"] == ["open_balance"]
    # the CRM sink's write comes back; a CRM user's edit after it is overwritten with the ERP's figure
    crm.execute("UPDATE customers SET open_balance = 64.50 WHERE customer_number = %s", (other,))
    crm.execute("UPDATE customers SET open_balance = 1.00 WHERE customer_number = %s", (other,))
    fixes = watch.until("the corrected balance", lambda seen: [
        c for c in commands(watch, other, COMMANDS_CRM) if c.value["source"]["connector"] == "crm"])
    assert [c.payload["open_balance"] for c in fixes] == ["64.50"]
    balances = [c.payload["open_balance"] for c in commands(watch, other, COMMANDS_CRM)
                if "open_balance" in c.value["changed_fields"]]
    assert balances[-2:] == ["64.50", "64.50"] and balances.count("64.50") == 2
