"""A target's business refusal (a 409 whose error field the route lists under ``refusals``) ends the command
as a result, not a dead letter; any other 409 stays a conflict. Over httpx's in-memory transport."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import HttpRoute, load_target
from streams.sinks.outcomes import Applied, Attempt, Failed, refusal
from streams.sinks.records import SinkCommand
from streams.stack.settings import PROJECT_ROOT

ERP = load_target(PROJECT_ROOT / "targets" / "erp.yaml")
BLOCKED = {"error": "account 7 is blocked", "field": "account_id",
           "fix": "unblock the account (PATCH blocked false) first"}
SHORT = {"error": "not enough stock of SKU-1", "field": "lines", "fix": "receive stock first"}


def order_create() -> SinkCommand:
    payload = {"order_number": "SO-000001", "customer_number": "C-000001", "erp_account_id": 7,
               "ordered_at": "2026-03-10T06:30:00+00:00", "currency": "CNY",
               "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": "2.000", "unit_price": "60.00",
                          "warehouse_code": None}]}
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="create",
                       entity_type="isthmus.canonical.SalesOrder", entity_key="SO-000001",
                       payload_type="isthmus.canonical.SalesOrder", payload=payload)


def attempt(answer: httpx.Response) -> Attempt:
    async def run() -> Attempt:
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(lambda _: answer))
        try:
            return await adapter.attempt(order_create())
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_the_erp_target_declares_a_blocked_account_a_refusal_of_an_order_create() -> None:
    route = ERP.route("isthmus.canonical.SalesOrder", "create")
    assert isinstance(route, HttpRoute) and route.refusals == ("account_id",)


def test_a_409_account_blocked_is_a_refusal_answered_as_a_result() -> None:
    outcome = attempt(httpx.Response(409, json=BLOCKED))
    assert outcome == Applied(status=409, body=BLOCKED, refused=True)


def test_another_409_stays_a_conflict() -> None:
    outcome = attempt(httpx.Response(409, json=SHORT))
    assert isinstance(outcome, Failed) and outcome.kind == "conflict" and outcome.status == 409


def test_refusal_needs_the_status_the_field_and_a_declaring_route() -> None:
    def failed(status: int, answer: Any) -> Failed:
        return Failed(kind="conflict", reason="r", status=status, answer=answer)

    assert refusal(failed(409, BLOCKED), ("account_id",)) == Applied(status=409, body=BLOCKED, refused=True)
    assert refusal(failed(409, BLOCKED), ()) is None
    assert refusal(failed(422, BLOCKED), ("account_id",)) is None
    assert refusal(failed(409, "account 7 is blocked"), ("account_id",)) is None
