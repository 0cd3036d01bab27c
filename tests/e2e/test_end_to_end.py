"""Isthmus end to end, as a user runs it: the connectors, `isthmus worker` and both `isthmus sink` processes
on the local stack, driven only through the reference CRM and ERP APIs.

Edits in one system land in the other, the CRM edit -> ERP -> CDC round trip produces no echo (both systems
reach a fixed point: no further command), and an order goes to cash with stock and balances following. An
order of a blocked ERP account is held (CRM status on_hold) and released by the unblock, also when the ERP
refused its create in a race (409 account blocked: a result, not a dead letter).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from support import waiting
from support.metrics import parse
from support.ports import free_port
from support.topics import records_to_end

from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.topics import COMMAND_TOPICS, DLQ_TOPIC, RESULTS_TOPICS
from streams.stack.running import RunningStack

T = TypeVar("T")
WAIT_S = 120.0



# The one wait of support.waiting, with an API still starting (a connection refused) counted as "not yet".
eventually = partial(waiting.eventually, timeout=WAIT_S, ignoring=(httpx.HTTPError,))


def where(fetch: Callable[[], dict[str, Any] | None],
          holds: Callable[[dict[str, Any]], bool]) -> Callable[[], dict[str, Any] | None]:
    """A probe for ``eventually``: what ``fetch`` returns, once ``holds`` of it."""
    def probe() -> dict[str, Any] | None:
        value = fetch()
        return value if value is not None and holds(value) else None
    return probe


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


class Apis:
    def __init__(self, stack: RunningStack, worker_url: str) -> None:
        self.worker_url = worker_url
        #: The worker and sink processes by name ("worker", "sink-erp", "sink-crm").
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.crm = httpx.Client(base_url=stack.settings.crm_api_url, timeout=10)
        self.erp = httpx.Client(base_url=stack.settings.erp_api_url, timeout=10)

    def ok(self, answer: httpx.Response) -> dict[str, Any]:
        assert answer.status_code < 300, f"{answer.request.method} {answer.request.url}: {answer.text}"
        return answer.json() if answer.content else {}

    def write(self, client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.ok(client.request(method, path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())}))

    def account_of(self, number: str) -> dict[str, Any] | None:
        answer = self.erp.get(f"/accounts/by-customer/{number}")
        return answer.json() if answer.status_code == 200 else None

    def customer(self, number: str) -> dict[str, Any]:
        return dict(self.crm.get(f"/customers/{number}").json())

    def product(self, sku: str) -> dict[str, Any]:
        return dict(self.crm.get(f"/products/{sku}").json())


@pytest.fixture(scope="module")
def pipeline(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apis]:
    assert cli_main(["connectors", "deploy"]) == 0
    logs = tmp_path_factory.mktemp("e2e")
    worker_port = free_port()
    env = {**os.environ, "ISTHMUS_WORKER_PORT": str(worker_port), "ISTHMUS_RESYNC_AT": "off",
           "ISTHMUS_SINK_METRICS_PORT": "0"}
    apis = Apis(stack, f"http://{stack.settings.host}:{worker_port}")
    for name, args in {"worker": ["worker"], "sink-erp": ["sink", "--target", "erp"],
                       "sink-crm": ["sink", "--target", "crm"]}.items():
        with open(logs / f"{name}.log", "wb") as out:
            apis.processes[name] = subprocess.Popen([sys.executable, "-m", "streams.cli.main", *args], env=env,
                                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    processes = list(apis.processes.values())
    try:
        yield apis
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in sorted(Path(logs).glob("*.log")):
            tail = log.read_text(errors="replace")[-1500:]
            if "Traceback" in tail:
                print(f"--- {log.name}\n{tail}")


def _commands_for(stack: RunningStack, key: str,
                  topics: Iterable[str] = tuple(COMMAND_TOPICS.values())) -> list[dict[str, Any]]:
    """Every committed record for ``key`` on ``topics`` (both command topics unless told), from their beginning."""
    store = SchemaStore.from_directory()
    return [dict(store.decode(r.value).value) for r in records_to_end(stack.settings.bootstrap_servers, topics)
            if r.text_key == key and r.value is not None]


def test_customer_edits_land_in_the_other_system_and_reach_a_fixed_point(stack: RunningStack,
                                                                          pipeline: Apis) -> None:
    crm = pipeline.write(pipeline.crm, "POST", "/customers", {"name": "Round Trip Ltd", "email": "rt@example.test"})
    number = crm["customer_number"]

    account = eventually("the ERP account for the new CRM customer", lambda: pipeline.account_of(number))
    assert account["name"] == "Round Trip Ltd"
    # The account id comes back with the create's result, the ERP-owned fields with the account's change
    # feed: two commands that may reach the CRM in either order.
    eventually("the account id and the ERP's payment terms back in the CRM", where(
        lambda: pipeline.customer(number), lambda c: c.get("erp_account_id") == account["account_id"]
        and c.get("payment_terms") == account["payment_terms"]))

    pipeline.write(pipeline.crm, "PATCH", f"/customers/{number}", {"name": "Round Trip Renamed"})
    eventually("the CRM rename in the ERP", where(lambda: pipeline.account_of(number),
                                                  lambda a: a["name"] == "Round Trip Renamed"))
    pipeline.write(pipeline.erp, "PATCH", f"/accounts/{account['account_id']}", {"credit_limit": "5000.00"})
    eventually("the ERP credit limit in the CRM", where(lambda: pipeline.customer(number),
                                                        lambda c: money(c.get("credit_limit")) == 5000))

    # Fixed point: once the echoes are back, nothing more is commanded for this customer.
    settled = waiting.quiet("the commands for the customer to stop", lambda: len(_commands_for(stack, number)),
                            settle=5, timeout=WAIT_S)
    time.sleep(10)
    assert len(_commands_for(stack, number)) == settled, "commands kept coming after the systems agreed"
    echoes = [v for (name, labels), v in parse(httpx.get(f"{pipeline.worker_url}/metrics", timeout=5).text).items()
              if name == "isthmus_flow_events_total"
              and {("flow", "isthmus-customers"), ("event", "echoes_suppressed")} <= set(labels)]
    assert echoes and echoes[0] > 0, "the worker counted no suppressed echo"
    kinds = [(c["target"], c["payload_type"].rsplit(".", 1)[-1], c["operation"]) for c in _commands_for(stack, number)]
    assert kinds.count(("erp", "Account", "create")) == 1

    pipeline.write(pipeline.crm, "DELETE", f"/customers/{number}")
    eventually("the ERP account deactivated (not deleted)", where(lambda: pipeline.account_of(number),
                                                                  lambda a: a["active"] is False))


def test_an_order_goes_to_cash_with_stock_and_balance_following(stack: RunningStack, pipeline: Apis) -> None:
    run = uuid.uuid4().hex[:6].upper()
    sku, warehouse = f"E2E-{run}", f"W{run}"[:10]
    pipeline.write(pipeline.erp, "POST", "/products", {"sku": sku, "description": "End to end", "unit_price": "12.50"})
    pipeline.write(pipeline.erp, "POST", "/warehouses", {"code": warehouse, "name": "End to end"})
    pipeline.write(pipeline.erp, "PUT", f"/stock/{sku}/{warehouse}", {"on_hand": "100"})
    pipeline.write(pipeline.crm, "POST", "/products", {"sku": sku, "name": "End to end", "list_price": "12.50"})
    eventually("the ERP stock as CRM availability", where(lambda: pipeline.product(sku),
                                                          lambda p: money(p["available_qty"]) == 100))

    number = pipeline.write(pipeline.crm, "POST", "/customers", {"name": f"Cash {run}"})["customer_number"]
    account = eventually("the customer's ERP account", lambda: pipeline.account_of(number))
    order = pipeline.write(pipeline.crm, "POST", "/orders",
                           {"customer_number": number, "lines": [{"sku": sku, "quantity": "3"}]})
    order_number = order["order_number"]

    def erp_order() -> dict[str, Any] | None:
        page = pipeline.erp.get("/orders", params={"account_id": account["account_id"]}).json()
        return next((o for o in page["items"] if o.get("crm_order_number") == order_number), None)

    placed = eventually("the ERP order for the CRM order", erp_order)
    assert placed["status"] == "reserved"
    assert Decimal(str(placed["total_amount"])) == Decimal("37.50")
    eventually("the reservation in CRM availability", where(lambda: pipeline.product(sku),
                                                            lambda p: money(p["available_qty"]) == 97))

    def crm_status(status: str) -> Callable[[], dict[str, Any] | None]:
        return where(lambda: dict(pipeline.crm.get(f"/orders/{order_number}").json()),
                     lambda o: o["status"] == status)

    eventually("status reserved in the CRM", crm_status("reserved"))
    for status in ("shipped", "invoiced"):
        pipeline.write(pipeline.erp, "PATCH", f"/orders/{placed['order_id']}", {"status": status})
        eventually(f"status {status} in the CRM", crm_status(status))
    eventually("the invoice in the CRM open balance", where(lambda: pipeline.customer(number),
                                                            lambda c: money(c["open_balance"]) == Decimal("37.50")))
    pipeline.write(pipeline.erp, "PATCH", f"/orders/{placed['order_id']}", {"status": "paid"})
    eventually("status paid in the CRM", crm_status("paid"))
    eventually("the payment in the CRM open balance", where(lambda: pipeline.customer(number),
                                                            lambda c: money(c["open_balance"]) == 0))


def _customer_with_stock(pipeline: Apis, *, blocked: bool) -> tuple[dict[str, Any], str]:
    """A new CRM customer with its ERP account (blocked, and the CRM showing it, when told) and a SKU in
    stock; returns the account and the SKU."""
    run = uuid.uuid4().hex[:6].upper()
    sku, warehouse = f"HLD-{run}", f"H{run}"[:10]
    pipeline.write(pipeline.erp, "POST", "/products", {"sku": sku, "description": "Held", "unit_price": "10.00"})
    pipeline.write(pipeline.erp, "POST", "/warehouses", {"code": warehouse, "name": "Held"})
    pipeline.write(pipeline.erp, "PUT", f"/stock/{sku}/{warehouse}", {"on_hand": "50"})
    pipeline.write(pipeline.crm, "POST", "/products", {"sku": sku, "name": "Held", "list_price": "10.00"})
    number = pipeline.write(pipeline.crm, "POST", "/customers", {"name": f"Held {run}"})["customer_number"]
    account = eventually("the customer's ERP account", lambda: pipeline.account_of(number))
    eventually("the account linked in the CRM", where(lambda: pipeline.customer(number),
                                                      lambda c: c["erp_account_id"] == account["account_id"]))
    if blocked:
        pipeline.write(pipeline.erp, "PATCH", f"/accounts/{account['account_id']}", {"blocked": True})
        eventually("the block mirrored in the CRM", where(lambda: pipeline.customer(number),
                                                          lambda c: c["blocked"] is True))
    return account, sku


def _erp_order_of(pipeline: Apis, account_id: int, order_number: str) -> dict[str, Any] | None:
    page = pipeline.erp.get("/orders", params={"account_id": account_id}).json()
    return next((o for o in page["items"] if o.get("crm_order_number") == order_number), None)


def _crm_order(pipeline: Apis, order_number: str, status: str) -> Callable[[], dict[str, Any] | None]:
    return where(lambda: dict(pipeline.crm.get(f"/orders/{order_number}").json()), lambda o: o["status"] == status)


def test_an_order_of_a_blocked_account_is_held_then_released_by_the_unblock(stack: RunningStack,
                                                                           pipeline: Apis) -> None:
    account, sku = _customer_with_stock(pipeline, blocked=True)
    order = pipeline.write(pipeline.crm, "POST", "/orders",
                           {"customer_number": account["crm_customer_number"],
                            "lines": [{"sku": sku, "quantity": "2"}]})
    number = order["order_number"]
    eventually("status on_hold in the CRM", _crm_order(pipeline, number, "on_hold"))
    assert _erp_order_of(pipeline, account["account_id"], number) is None
    creates = [c for c in _commands_for(stack, number) if c["target"] == "erp" and c["operation"] == "create"]
    assert creates == [], "the flow sent the ERP a create for an order of a blocked account"

    pipeline.write(pipeline.erp, "PATCH", f"/accounts/{account['account_id']}", {"blocked": False})
    placed = eventually("the ERP order after the unblock",
                        lambda: _erp_order_of(pipeline, account["account_id"], number))
    assert placed["status"] == "reserved"
    eventually("status reserved in the CRM", _crm_order(pipeline, number, "reserved"))
    creates = [c for c in _commands_for(stack, number) if c["target"] == "erp" and c["operation"] == "create"]
    assert len(creates) == 1


def test_a_create_refused_in_a_race_with_a_block_is_held_and_resent_with_its_key(stack: RunningStack,
                                                                                pipeline: Apis) -> None:
    """The ERP sink is paused while the flow sends the create and the account is blocked, so the ERP answers
    409 "account N is blocked": the sink records a result (not a dead letter), the flow holds the order and
    sends the same create again (same idempotency key) when the account is unblocked."""
    account, sku = _customer_with_stock(pipeline, blocked=False)
    sink = pipeline.processes["sink-erp"]
    os.killpg(sink.pid, signal.SIGSTOP)
    try:
        order = pipeline.write(pipeline.crm, "POST", "/orders", {"customer_number": account["crm_customer_number"],
                                                                 "lines": [{"sku": sku, "quantity": "2"}]})
        number = order["order_number"]
        (create,) = eventually("the flow's ERP create", lambda: [
            c for c in _commands_for(stack, number) if c["target"] == "erp" and c["operation"] == "create"] or None)
        pipeline.write(pipeline.erp, "PATCH", f"/accounts/{account['account_id']}", {"blocked": True})
    finally:
        os.killpg(sink.pid, signal.SIGCONT)
    key = create["idempotency_key"]
    (refused,) = eventually("the ERP's refusal as a result", lambda: [
        r for r in _commands_for(stack, number, RESULTS_TOPICS.values()) if r["idempotency_key"] == key] or None)
    assert refused["status"] == 409 and "is blocked" in (refused["response"] or "")
    eventually("status on_hold in the CRM", _crm_order(pipeline, number, "on_hold"))
    assert _erp_order_of(pipeline, account["account_id"], number) is None

    pipeline.write(pipeline.erp, "PATCH", f"/accounts/{account['account_id']}", {"blocked": False})
    placed = eventually("the ERP order after the unblock",
                        lambda: _erp_order_of(pipeline, account["account_id"], number))
    eventually("status reserved in the CRM", _crm_order(pipeline, number, "reserved"))
    creates = [c for c in _commands_for(stack, number) if c["target"] == "erp" and c["operation"] == "create"]
    assert {c["idempotency_key"] for c in creates} == {key} and len(creates) == 2
    assert placed["status"] == "reserved"
    assert _commands_for(stack, number, [DLQ_TOPIC]) == [], "the refusal was dead-lettered"
