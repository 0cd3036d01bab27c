"""A target's business refusal (a 409 whose error field the route lists under ``refusals``) ends the command
as a result, not a dead letter, when its flow reads results (else a dead letter); any other 409 stays a
conflict. Over httpx's in-memory transport."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import HttpRoute, load_target
from streams.sinks.delivery import Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
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


def delivered(command: SinkCommand, answer: httpx.Response) -> Applied | Failed:
    """What the sink's deliverer ends ``command`` with when the ERP answers ``answer``."""
    async def run() -> Applied | Failed:
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(lambda _: answer))
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.01)),
                              config=ERP, policy=RetryPolicy(backoff=Backoff(base=0.001, jitter=0)))
        try:
            return (await deliverer.deliver(command)).outcome
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_a_refusal_is_a_result_for_a_flow_that_reads_results_and_a_dead_letter_for_any_other() -> None:
    """A document flow's create reads its refusal from the results topic and holds the document; a command of a
    flow that reads none (``reads_refusals`` false: an entity flow, a document flow's cancel) would be taken as
    made, so its refusal is dead-lettered with the target's words and the fix."""
    assert delivered(order_create(), httpx.Response(409, json=BLOCKED)) == Applied(status=409, body=BLOCKED,
                                                                                   refused=True)
    letter = delivered(replace(order_create(), reads_refusals=False), httpx.Response(409, json=BLOCKED))
    assert isinstance(letter, Failed) and (letter.kind, letter.error_type, letter.status) == ("permanent", "Refused",
                                                                                             409)
    assert letter.reason == (
        "the SalesOrder create of SO-000001 was refused by ERP with 409 (account 7 is blocked), a business refusal "
        "erp.yaml declares (refusals: account_id); its flow reads no refusals from the results topic, so it is "
        "dead-lettered rather than taken as made. Fix: unblock the account (PATCH blocked false) first; then "
        "replay it: isthmus topics dlq replay")
