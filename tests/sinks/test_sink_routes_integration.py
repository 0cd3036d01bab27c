"""Every route of targets/crm.yaml and targets/erp.yaml: a Command on a command topic, applied by
`isthmus sink` against the reference API, lands in the target database, and its result names the ids the
target assigned."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
from sink_support import (
    SinkProcess,
    Topics,
    account_payload,
    api,
    command,
    customer_number,
    dead_letters_for,
    erp_goods,
    erp_rows,
    fresh_topics,
    order_number,
    produce,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack


def apply(stack: RunningStack, system: str, commands: list[dict[str, Any]],
          topics: Topics, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Produce the commands, run `isthmus sink` until each has its result; the results by command id.

    The topics are the test's own: the stack is shared, and a demo or another session may run a sink on the
    real command topics (with the same transactional id, which would fence one of the two)."""
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    sink = SinkProcess(stack, system, env, name="routes")
    try:
        found = eventually(f"{len(ids)} results on {topics.results}",
                         lambda: (lambda got: got if len(got) == len(ids) else None)(
                             results_for(stack, topics.results, ids)), timeout=120)
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    assert "applied" in sink.log()
    return {r["command_id"]: r for r in found}


def test_every_erp_route_lands_in_the_erp_database(stack: RunningStack, run: int,
                                                   erp_db: pymysql.connections.Connection[Any]) -> None:
    kept, gone = customer_number(run, 0), customer_number(run, 1)
    sku, warehouse = erp_goods(stack, run)
    accounts = [
        command(target="erp", operation="create", payload_type="Account", entity_key=kept,
                payload=account_payload(kept, credit_limit="1000.00")),
        command(target="erp", operation="update", payload_type="Account", entity_key=kept,
                payload=account_payload(kept, name="Renamed by the CRM"), changed=["name"]),
        command(target="erp", operation="create", payload_type="Account", entity_key=gone,
                payload=account_payload(gone)),
        command(target="erp", operation="deactivate", payload_type="Account", entity_key=gone,
                payload=account_payload(gone, active=False)),
    ]
    topics, env = fresh_topics(stack, "routes-erp")
    results = apply(stack, "erp", accounts, topics, env)
    created = results[accounts[0]["command_id"]]
    assert created["status"] == 201 and not created["replayed"]
    assert created["assigned_ids"]["crm_customer_number"] == kept and created["assigned_ids"]["account_id"]
    assert [results[c["command_id"]]["status"] for c in accounts[1:]] == [200, 201, 200]

    [row] = erp_rows(erp_db, "SELECT * FROM accounts WHERE crm_customer_number = %s", kept)
    assert str(row["account_id"]) == created["assigned_ids"]["account_id"]
    assert row["name"] == "Renamed by the CRM" and row["credit_limit"] == 1000 and row["version"] == 2
    assert row["billing_city"] == "Shanghai" and row["active"] == 1
    [deactivated] = erp_rows(erp_db, "SELECT * FROM accounts WHERE crm_customer_number = %s", gone)
    assert deactivated["active"] == 0

    kept_order, cancelled_order = order_number(run, 0), order_number(run, 1)

    def order(number: str, operation: str, quantity: str) -> dict[str, Any]:
        return command(target="erp", operation=operation, payload_type="SalesOrder", entity_key=number, payload={
            "order_number": number, "erp_order_id": None, "customer_number": kept, "erp_account_id": None,
            "status": "submitted", "currency": "CNY", "ordered_at": "2026-05-01T01:30:00+00:00",
            "lines": [{"line_no": 1, "sku": sku, "quantity": quantity, "unit_price": "2.50",
                       "warehouse_code": warehouse}]})

    orders = [order(kept_order, "create", "3.000"), order(cancelled_order, "create", "2.000"),
              order(cancelled_order, "cancel", "2.000")]
    results = apply(stack, "erp", orders, topics, env)
    assert results[orders[0]["command_id"]]["assigned_ids"]["crm_order_number"] == kept_order
    assert results[orders[2]["command_id"]]["assigned_ids"]["status"] == "cancelled"
    [placed] = erp_rows(erp_db, "SELECT o.*, l.sku, l.quantity, l.warehouse_code FROM sales_orders o "
                                "JOIN sales_order_lines l USING (order_id) WHERE crm_order_number = %s", kept_order)
    assert placed["status"] == "reserved" and placed["account_id"] == row["account_id"]
    assert placed["sku"] == sku and placed["quantity"] == 3 and placed["warehouse_code"] == warehouse
    [cancelled] = erp_rows(erp_db, "SELECT status FROM sales_orders WHERE crm_order_number = %s", cancelled_order)
    assert cancelled["status"] == "cancelled"
    [stock] = erp_rows(erp_db, "SELECT reserved FROM stock WHERE sku = %s AND warehouse_code = %s", sku, warehouse)
    assert stock["reserved"] == 3, "the cancelled order released its reservation"
    assert dead_letters_for(stack, topics.dlq, {kept, gone, kept_order, cancelled_order}) == []


def test_every_crm_route_lands_in_the_crm_database(stack: RunningStack, run: int,
                                                   crm_db: psycopg.Connection[dict[str, Any]]) -> None:
    number, order, sku = customer_number(run, 0), order_number(run, 0), f"SKC-{run}"
    with api(stack, "crm") as crm:
        for path, body in (("/customers", {"customer_number": number, "name": "Sink test customer"}),
                           ("/products", {"sku": sku, "name": "Sink test bolt", "list_price": "2.50"}),
                           ("/orders", {"order_number": order, "customer_number": number,
                                        "lines": [{"sku": sku, "quantity": "1"}]})):
            answer = crm.post(path, json=body)
            assert answer.status_code == 201, answer.text
    erp_account_id, erp_order_id = 9_000_000_000 + run, 8_000_000_000 + run
    customer = {"customer_number": number, "name": "Renamed in the ERP", "phone": "+86 21 5555 0000",
                "erp_account_id": erp_account_id,
                "credit_limit": "5000.00", "payment_terms": "NET60", "blocked": True, "active": True,
                "open_balance": "123.45", "contacts": [], "provenance": {}}
    commands = [
        command(target="crm", operation="update", payload_type="CustomerAccountXref", entity_key=number,
                payload={"customer_number": number, "erp_account_id": erp_account_id,
                         "account_code": "T" + number[2:]}),
        command(target="crm", operation="update", payload_type="Customer", entity_key=number, payload=customer,
                changed=["credit_limit", "payment_terms", "blocked", "open_balance", "phone"]),
        command(target="crm", operation="update", payload_type="SalesOrder", entity_key=order,
                payload={"order_number": order, "erp_order_id": erp_order_id, "status": "reserved",
                         "currency": "CNY", "lines": []}),
        command(target="crm", operation="update", payload_type="ProductAvailability", entity_key=sku,
                payload={"sku": sku, "available_qty": "7.000"}),
    ]
    topics, env = fresh_topics(stack, "routes-crm")
    results = apply(stack, "crm", commands, topics, env)
    assert {r["status"] for r in results.values()} == {200}
    assert results[commands[0]["command_id"]]["assigned_ids"]["erp_account_id"] == str(erp_account_id)
    row = crm_db.execute("SELECT * FROM customers WHERE customer_number = %s", (number,)).fetchone()
    assert row is not None and row["erp_account_id"] == erp_account_id
    assert (str(row["credit_limit"]), row["payment_terms"], row["blocked"], str(row["open_balance"])) == (
        "5000.00", "NET60", True, "123.45")
    assert row["phone"] == "+86 21 5555 0000" and row["name"] == "Sink test customer", \
        "only the changed fields were sent"
    placed = crm_db.execute("SELECT * FROM sales_orders WHERE order_number = %s", (order,)).fetchone()
    assert placed is not None and placed["status"] == "reserved" and placed["erp_order_id"] == erp_order_id
    product = crm_db.execute("SELECT available_qty FROM products WHERE sku = %s", (sku,)).fetchone()
    assert product is not None and str(product["available_qty"]) == "7.000"
    assert dead_letters_for(stack, topics.dlq, {number, order, sku}) == []
