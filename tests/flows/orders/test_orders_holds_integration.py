"""A business refusal through the real stack never leaves an order silently stuck.

A CRM order of a customer whose ERP account is inactive is sent; the real ERP refuses it (409 "account N is
inactive"), which a real ERP sink records as a result; the flow holds the order: a Hold record with the ERP's
message on isthmus.holds, shown by `isthmus topics trace`, and the CRM status on_hold, written by a real CRM sink.
Once the account is re-activated in the ERP, the order is released, created in the ERP and its status comes back.
A CRM edit of an order the ERP holds reserved changes the ERP order's lines; one of a shipped order is held.

The flow (with its results stage: the results topic has the command topics' 3 partitions, the CDC topics one)
and both sinks run in this process under names of their own: the sinks with results and dead-letter topics of
this test, starting at the current end of the command topics.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import httpx
import psycopg
import pymysql
import pytest
from order_harness import orders_flow_file
from support.cli import isthmus
from support.flows import RunningFlow, Watch, start_at_end
from support.sink_worker import InProcessSink
from support.systems import reference_systems
from support.waiting import eventually

from reference.topics import COMMANDS_CRM, COMMANDS_ERP
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.orders import document_flow
from streams.flows.topics import HOLDS
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.sinks.topics import COMMAND_PARTITIONS
from streams.stack.running import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("reference_capture")]
T = TypeVar("T")
#: How long an order waits for its customer's account before it is held, here (the worker's default is 300 s).
NO_ACCOUNT_HOLD_AFTER_S = 3.0


@contextmanager
def sink(system: str, commands: str, tag: str, schemas: SchemaStore, bootstrap: str) -> Iterator[str]:
    """A real sink worker of ``system`` in a thread of this process, with its own group, transactional id, results
    and dead-letter topics, from the current end of ``commands``; yields its results topic. Stopped as SIGTERM
    stops it."""
    results, dlq, group = f"test.holds.results.{system}.{tag}", f"test.holds.dlq.{system}.{tag}", \
        f"test-holds-sink-{system}-{tag}"
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=results, partitions=COMMAND_PARTITIONS),
                                          TopicSpec(name=dlq, partitions=1)]))
    start_at_end(bootstrap, group, [commands])
    env = {"ISTHMUS_SINK_RESULTS_TOPIC": results, "ISTHMUS_SINK_DLQ_TOPIC": dlq, "ISTHMUS_SINK_GROUP_ID": group,
           "ISTHMUS_SINK_TRANSACTIONAL_ID": group, "ISTHMUS_SINK_COMMIT_INTERVAL_MS": "100"}
    with InProcessSink(system, env, schemas):
        yield results


def erp_goods(stack: RunningStack, run: int) -> str:
    sku, warehouse = f"HLD-{run}", f"H{run % 10**8}"
    with httpx.Client(base_url=stack.settings.erp_api_url, timeout=30) as api:
        assert api.post("/warehouses", json={"code": warehouse, "name": "Hold test DC"}).status_code == 201
        assert api.post("/products", json={"sku": sku, "description": "Hold test", "unit_price": "2.50"}
                        ).status_code == 201
        assert api.put(f"/stock/{sku}/{warehouse}", json={"on_hand": "10"}).status_code == 201
    return sku


@pytest.fixture
def run() -> int:
    return random.randint(100_000_000, 999_999_999)


def erp_rows(erp: pymysql.connections.Connection[Any], sql: str, *args: Any) -> list[dict[str, Any]]:
    with erp.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def crm_status(crm: psycopg.Connection[dict[str, Any]], number: str, status: str) -> Mapping[str, Any] | None:
    row = crm.execute("SELECT status, erp_order_id FROM sales_orders WHERE order_number = %s", (number,)).fetchone()
    return row if row is not None and row["status"] == status else None


def order_of_a_new_customer(crm: psycopg.Connection[dict[str, Any]], customer: str, number: str, sku: str) -> None:
    """A new CRM customer and its order of one line of ``sku``, in one transaction."""
    with crm.transaction():
        row = crm.execute("INSERT INTO customers (customer_number, name) VALUES (%s, 'Hold test') RETURNING id",
                          (customer,)).fetchone()
        assert row is not None
        order = crm.execute("INSERT INTO sales_orders (order_number, customer_id, total_amount) "
                            "VALUES (%s, %s, 5.00) RETURNING id", (number, row["id"])).fetchone()
        assert order is not None
        crm.execute("INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, unit_price) "
                    "VALUES (%s, 1, %s, 2, 2.50)", (order["id"], sku))


def orders_and_sinks(running: ExitStack, stack: RunningStack, *,
                     hold_after_s: float | None = None) -> tuple[FlowSpec, Watch]:
    """The orders flow (with its results stage) and both sinks, under names of this test, run until ``running``
    closes; with ``hold_after_s``, its ticks come every half second and hold what waited that long. Returns the
    flow's spec and a watch of the CRM's commands and the holds."""
    bootstrap = stack.settings.bootstrap_servers
    tag = uuid.uuid4().hex[:8]
    context = FlowContext.load()
    results = running.enter_context(sink("erp", COMMANDS_ERP, tag, context.schemas, bootstrap))
    running.enter_context(sink("crm", COMMANDS_CRM, tag, context.schemas, bootstrap))
    flow = document_flow(orders_flow_file(), schemas=context.schemas, mappings=context.mappings,
                         systems=reference_systems(stack.settings.erp_time_zone),
                         name=f"test-holds-{tag}", results_topic=results)
    spec = flow.spec()
    assert results not in spec.inputs  # 3 partitions: read through the results stage
    (stage,) = spec.feeders
    running.enter_context(RunningFlow(stage, bootstrap, context.schemas))
    orders = RunningFlow(spec, bootstrap, context.schemas)
    if hold_after_s is not None:
        orders.processor = FlowProcessor(spec, EngineSettings(
            bootstrap_servers=bootstrap, worker_id="flow-test", hold_after_s=hold_after_s, tick_interval_s=0.5),
            context.schemas)
    running.enter_context(orders)
    watch = Watch(bootstrap, (COMMANDS_CRM, HOLDS), context.schemas)
    running.callback(watch.close)
    return spec, watch


def trace_holds(number: str) -> str:
    """What `isthmus topics trace` shows of ``number`` on the holds topic."""
    trace = isthmus("topics", "trace", number, "--topic", HOLDS)
    return trace.stdout + trace.stderr


def test_an_order_of_an_inactive_account_is_held_with_its_cause_and_applied_after_the_reactivation(
        stack: RunningStack, crm: psycopg.Connection[dict[str, Any]], erp: pymysql.connections.Connection[Any],
        run: int) -> None:
    customer, number = f"C-6{run}", f"SO-6{run}"
    sku = erp_goods(stack, run)
    crm.execute("INSERT INTO products (sku, name, list_price) VALUES (%s, 'Hold test', 2.50)", (sku,))
    with ExitStack() as running:
        spec, watch = orders_and_sinks(running, stack)
        # the customer's ERP account, inactive: made here as the ERP would have it (no customer flow runs here),
        # once the flow reads the ERP's changes (it starts at their end)
        with erp.cursor() as cur:
            cur.execute("INSERT INTO accounts (account_code, name, crm_customer_number, active) "
                        "VALUES (%s, %s, %s, 0)", (f"HT{run}", f"Hold test {customer}", customer))
        order_of_a_new_customer(crm, customer, number, sku)

        (hold,) = watch.until("the hold", lambda seen: [o for o in watch.of(number, HOLDS)
                                                        if o.value["state"] == "held"])
        assert (hold.value["cause"], hold.value["field"], hold.value["status"]) == ("refused", "account_id", 409)
        assert hold.value["message"].endswith("is inactive") and hold.value["origin_status"] == "on_hold"
        assert (hold.value["flow"], hold.value["origin"], hold.value["target"]) == (spec.name, "crm", "erp")
        assert erp_rows(erp, "SELECT order_id FROM sales_orders WHERE crm_order_number = %s", number) == []
        eventually("the CRM order on_hold", lambda: crm_status(crm, number, "on_hold"))
        trace = trace_holds(number)
        assert f"held (refused) by {spec.name}" in trace and "is inactive" in trace, trace

        with erp.cursor() as cur:
            cur.execute("UPDATE accounts SET active = 1 WHERE crm_customer_number = %s", (customer,))
        (released,) = watch.until("the release", lambda seen: [o for o in watch.of(number, HOLDS)
                                                               if o.value["state"] == "released"])
        assert released.value["cause"] == "refused"
        (applied,) = eventually("the ERP order", lambda: erp_rows(
            erp, "SELECT order_id, status FROM sales_orders WHERE crm_order_number = %s", number))
        assert applied["status"] == "reserved"
        back = eventually("the CRM order reserved", lambda: crm_status(crm, number, "reserved"))
        assert back["erp_order_id"] == applied["order_id"]
        assert [o.value["state"] for o in watch.of(number, HOLDS)] == ["held", "released"]


def test_an_order_of_a_customer_with_no_erp_account_is_held_naming_it_and_applied_once_the_account_appears(
        stack: RunningStack, crm: psycopg.Connection[dict[str, Any]], erp: pymysql.connections.Connection[Any],
        run: int) -> None:
    """The customer's ERP create was refused or is pending (no customer flow runs here: none is made): the order
    is not sent, and once it has waited the hold time it is held visibly, the CRM order left submitted."""
    customer, number = f"C-8{run}", f"SO-8{run}"
    sku = erp_goods(stack, run)
    crm.execute("INSERT INTO products (sku, name, list_price) VALUES (%s, 'Hold test', 2.50)", (sku,))
    with ExitStack() as running:
        spec, watch = orders_and_sinks(running, stack, hold_after_s=NO_ACCOUNT_HOLD_AFTER_S)
        order_of_a_new_customer(crm, customer, number, sku)

        (hold,) = watch.until("the hold", lambda seen: [o for o in watch.of(number, HOLDS)
                                                        if o.value["state"] == "held"])
        assert (hold.value["cause"], hold.value["field"], hold.value["origin_status"]) == (
            "no_account", "erp_account_id", None)
        assert f"Customer {customer} has no account in erp" in hold.value["message"]
        assert erp_rows(erp, "SELECT order_id FROM sales_orders WHERE crm_order_number = %s", number) == []
        assert crm_status(crm, number, "submitted") is not None
        trace = trace_holds(number)
        assert f"held (no_account) by {spec.name}" in trace and f"Customer {customer}" in trace, trace

        with erp.cursor() as cur:
            cur.execute("INSERT INTO accounts (account_code, name, crm_customer_number) VALUES (%s, %s, %s)",
                        (f"NA{run}", f"Hold test {customer}", customer))
        (released,) = watch.until("the release", lambda seen: [o for o in watch.of(number, HOLDS)
                                                               if o.value["state"] == "released"])
        assert released.value["cause"] == "no_account"
        (applied,) = eventually("the ERP order", lambda: erp_rows(
            erp, "SELECT order_id, status FROM sales_orders WHERE crm_order_number = %s", number))
        back = eventually("the CRM order reserved", lambda: crm_status(crm, number, "reserved"))
        assert back["erp_order_id"] == applied["order_id"]
        assert [o.value["state"] for o in watch.of(number, HOLDS)] == ["held", "released"]


def erp_lines(erp: pymysql.connections.Connection[Any], number: str) -> list[tuple[int, str]]:
    rows = erp_rows(erp, "SELECT l.line_no, l.quantity FROM sales_order_lines l JOIN sales_orders o "
                         "ON o.order_id = l.order_id WHERE o.crm_order_number = %s ORDER BY l.line_no", number)
    return [(int(r["line_no"]), str(r["quantity"])) for r in rows]


def crm_edit(crm: psycopg.Connection[dict[str, Any]], number: str, quantity: str, *, add: bool = False) -> None:
    """One CRM transaction: line 1's quantity, maybe a second line of the same SKU, the order's total."""
    with crm.transaction():
        row = crm.execute("SELECT id FROM sales_orders WHERE order_number = %s", (number,)).fetchone()
        assert row is not None
        crm.execute("UPDATE sales_order_lines SET quantity = %s WHERE order_id = %s AND line_no = 1",
                    (quantity, row["id"]))
        if add:
            crm.execute("INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, unit_price) "
                        "SELECT order_id, 2, sku, 1, unit_price FROM sales_order_lines WHERE order_id = %s "
                        "AND line_no = 1", (row["id"],))
        crm.execute("UPDATE sales_orders SET total_amount = (SELECT sum(quantity * unit_price) FROM "
                    "sales_order_lines WHERE order_id = %s) WHERE id = %s", (row["id"], row["id"]))


def test_a_crm_edit_of_a_reserved_order_changes_the_erp_orders_lines_and_one_of_a_shipped_order_is_held(
        stack: RunningStack, crm: psycopg.Connection[dict[str, Any]], erp: pymysql.connections.Connection[Any],
        run: int) -> None:
    """flows/orders.yaml `update: {while: [reserved]}`: the ERP takes the CRM's edit of a reserved order through
    its PUT /orders/{id} (stock reserved again); once the ERP shipped it, an edit is held (cause locked), never
    lost silently, and undoing it releases the hold."""
    customer, number = f"C-9{run}", f"SO-9{run}"
    sku = erp_goods(stack, run)
    crm.execute("INSERT INTO products (sku, name, list_price) VALUES (%s, 'Hold test', 2.50)", (sku,))
    with ExitStack() as running:
        spec, watch = orders_and_sinks(running, stack)
        with erp.cursor() as cur:
            cur.execute("INSERT INTO accounts (account_code, name, crm_customer_number) VALUES (%s, %s, %s)",
                        (f"HU{run}", f"Edit test {customer}", customer))
        order_of_a_new_customer(crm, customer, number, sku)
        eventually("the CRM order reserved", lambda: crm_status(crm, number, "reserved"))
        assert erp_lines(erp, number) == [(1, "2.000")]

        crm_edit(crm, number, "3", add=True)
        eventually("the ERP order's lines edited", lambda: erp_lines(erp, number) == [(1, "3.000"), (2, "1.000")])
        (order,) = erp_rows(erp, "SELECT order_id, total_amount FROM sales_orders WHERE crm_order_number = %s",
                            number)
        assert str(order["total_amount"]) == "10.00"
        (stock,) = erp_rows(erp, "SELECT reserved FROM stock WHERE sku = %s", sku)
        assert str(stock["reserved"]) == "4.000"  # the first 2 released, the 3 and 1 reserved

        with httpx.Client(base_url=stack.settings.erp_api_url, timeout=30) as api:
            assert api.patch(f"/orders/{order['order_id']}", json={"status": "shipped"}).status_code == 200
        eventually("the CRM order shipped", lambda: crm_status(crm, number, "shipped"))
        crm_edit(crm, number, "5")
        (hold,) = watch.until("the hold", lambda seen: [o for o in watch.of(number, HOLDS)
                                                        if o.value["state"] == "held"])
        assert (hold.value["cause"], hold.value["field"], hold.value["origin_status"]) == ("locked", "status", None)
        assert "erp holds it as shipped" in hold.value["message"] and hold.value["flow"] == spec.name
        assert erp_lines(erp, number) == [(1, "3.000"), (2, "1.000")]
        assert f"held (locked) by {spec.name}" in trace_holds(number)

        crm_edit(crm, number, "3")
        (released,) = watch.until("the release", lambda seen: [o for o in watch.of(number, HOLDS)
                                                               if o.value["state"] == "released"])
        assert released.value["cause"] == "locked"
        assert erp_lines(erp, number) == [(1, "3.000"), (2, "1.000")]
