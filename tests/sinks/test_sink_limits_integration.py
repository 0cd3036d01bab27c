"""Target limits against the real reference ERP (this checkout's, over a database of its own) and a real
``isthmus sink``: a 1,000-line order, five times what one ERP call takes, reaches the ERP whole, created with its
first 200 lines and grown 200 at a time; with a target file that declares no parts, it is refused before any
call, as a result naming the reason (the orders flow holds the document on it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
from pymysql.cursors import DictCursor
from sink_support import SinkProcess, command, fresh_topics, order_number, produce, results_for
from support.waiting import eventually

from reference.common.server import ThreadedServer
from reference.erp.app import create_app
from reference.erp.config import ErpConfig
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

LINES = 1000


@pytest.fixture(scope="module")
def erp(stack: RunningStack) -> Iterator[tuple[str, str]]:
    """This checkout's ERP app (it has POST /orders/{id}/lines) over a database of its own: (url, database)."""
    s = stack.settings
    database = f"erp_limits_{uuid.uuid4().hex[:10]}"
    config = ErpConfig.from_env({"REFERENCE_DB_HOST": s.host, "REFERENCE_DB_PORT": str(s.erp_db_port),
                                 "REFERENCE_DB_USER": s.db_user, "REFERENCE_DB_NAME": database,
                                 "REFERENCE_DB_PASSWORD": stack.secrets.erp_db_password.reveal()})
    try:
        with ThreadedServer(create_app(config)) as server:
            yield server.url, database
    finally:
        conn = stack.connect_erp(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            conn.close()


def goods(url: str, run: int) -> tuple[int, str]:
    """An active account and a product with stock for every line: (account id, sku)."""
    sku, warehouse = f"LIM-{run}", f"L{run % 10**8}"
    with httpx.Client(base_url=url, timeout=30) as erp:
        account = erp.post("/accounts", json={"account_code": f"LA{run}", "name": "Limits test",
                                              "crm_customer_number": f"C-9{run}"})
        assert account.status_code == 201, account.text
        assert erp.post("/warehouses", json={"code": warehouse, "name": "Limits DC"}).status_code == 201
        assert erp.post("/products", json={"sku": sku, "description": "Limits bolt",
                                           "unit_price": "1.00"}).status_code == 201
        assert erp.put(f"/stock/{sku}/{warehouse}", json={"on_hand": str(2 * LINES)}).status_code == 201
        return int(account.json()["account_id"]), sku


def big_order(run: int, account_id: int, sku: str) -> dict[str, Any]:
    number = order_number(run, 0)
    return command(target="erp", operation="create", payload_type="SalesOrder", entity_key=number, payload={
        "order_number": number, "customer_number": f"C-9{run}", "erp_account_id": account_id,
        "ordered_at": datetime.now(UTC).isoformat(), "currency": "CNY",
        "lines": [{"line_no": n, "sku": sku, "quantity": "1.000", "unit_price": "1.00", "warehouse_code": None}
                  for n in range(1, LINES + 1)]})


def erp_rows(stack: RunningStack, database: str, query: str, *params: Any) -> list[dict[str, Any]]:
    conn: pymysql.connections.Connection[Any] = stack.connect_erp(database, autocommit=True, cursorclass=DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def erp_lines(stack: RunningStack, database: str, number: str) -> list[dict[str, Any]]:
    return erp_rows(stack, database, "SELECT l.line_no, o.total_amount FROM sales_order_lines l JOIN sales_orders o "
                                     "USING (order_id) WHERE o.crm_order_number = %s ORDER BY l.line_no", number)


def test_a_1000_line_order_reaches_the_erp_whole_in_parts(stack: RunningStack, erp: tuple[str, str],
                                                           run: int) -> None:
    url, database = erp
    topics, env = fresh_topics(stack, "limits")
    order = big_order(run, *goods(url, run))
    sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_BASE_URL": url}, name="limits")
    try:
        produce(stack, topics.commands, [order])
        (result,) = eventually("the order's result", lambda: results_for(stack, topics.results, {order["command_id"]}),
                             timeout=120)
    finally:
        sink.stop()
    assert result["status"] == 201 and result["assigned_ids"]["crm_order_number"] == order["entity_key"]
    lines = erp_lines(stack, database, order["entity_key"])
    assert [line["line_no"] for line in lines] == list(range(1, LINES + 1))
    assert lines[0]["total_amount"] == LINES  # one of 1.00 per line, every part counted once
    calls = erp_rows(stack, database, "SELECT idem_key, path FROM idempotency_keys WHERE idem_key LIKE %s "
                     "ORDER BY idem_key", order["idempotency_key"] + "%")
    assert [(c["idem_key"].removeprefix(order["idempotency_key"]), c["path"].rsplit("/", 1)[-1]) for c in calls] == [
        ("", "orders"), *((f".part{n}", "lines") for n in range(2, 6))]


def test_without_a_parts_route_the_order_is_refused_with_the_reason_and_nothing_reaches_the_erp(
        stack: RunningStack, erp: tuple[str, str], run: int, tmp_path: Path) -> None:
    url, database = erp
    target = (PROJECT_ROOT / "targets" / "erp.yaml").read_text(encoding="utf-8")
    parts = '    parts: {field: lines, method: POST, path: "/orders/{order_id}/lines"}\n'
    assert parts in target
    (tmp_path / "erp.yaml").write_text(target.replace(parts, ""), encoding="utf-8")
    topics, env = fresh_topics(stack, "limits-none")
    order = big_order(run, *goods(url, run))
    sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_BASE_URL": url, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path)},
                       name="limits-none")
    try:
        produce(stack, topics.commands, [order])
        (result,) = eventually("the order's result", lambda: results_for(stack, topics.results, {order["command_id"]}),
                             timeout=120)
    finally:
        sink.stop()
    assert result["status"] == 413
    assert "1000 lines in one SalesOrder create: erp.yaml takes at most 200 per call" in result["response"]
    assert erp_lines(stack, database, order["entity_key"]) == []
