"""The HTTP adapter's requests and its reading of answers, over httpx's in-memory transport (the real
reference APIs are exercised by the integration tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import load_target
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand
from streams.stack.settings import PROJECT_ROOT

ERP = load_target(PROJECT_ROOT / "targets" / "erp.yaml")


def account(operation: str, changed: tuple[str, ...] = (), **payload: Any) -> SinkCommand:
    base = {"account_id": None, "account_code": "AC1", "crm_customer_number": "C-000001", "name": "Acme",
            "email": None, "billing_address": {"line1": "1 Road", "city": "Shanghai", "postal_code": None,
                                               "country": "CN"}, "credit_limit": "10.00", "blocked": False,
            "active": True}
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation=operation,
                       entity_type="t", entity_key="C-000001", payload_type="isthmus.canonical.Account",
                       payload={**base, **payload}, changed_fields=changed)


def attempt(command: SinkCommand, answer: Any, env: dict[str, str] | None = None
            ) -> tuple[Attempt, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = answer(request) if callable(answer) else answer
        return response

    async def run() -> Attempt:
        adapter = HttpAdapter(ERP, base_url="http://erp.test", timeout_s=5, max_connections=2, env=env or {},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(handle))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(run()), seen


CREATED = {"account_id": 7, "account_code": "AC1", "crm_customer_number": "C-000001"}
MAPPED = {"account_code": "AC1", "crm_customer_number": "C-000001", "name": "Acme", "billing_line1": "1 Road",
          "billing_city": "Shanghai", "billing_country": "CN", "credit_limit": "10.00", "blocked": False}


def test_a_create_goes_out_as_an_item_of_the_batch_endpoint_with_its_idempotency_key() -> None:
    outcome, [request] = attempt(account("create"), httpx.Response(200, json={"results": [
        {"status": 201, "body": CREATED, "idempotency_key_status": "stored"}]}))
    assert request.method == "POST" and request.url.path == "/accounts/batch"
    assert "Idempotency-Key" not in request.headers and "Authorization" not in request.headers
    assert json.loads(request.content) == {"items": [{"idempotency_key": "key-1", **MAPPED}]}
    assert outcome == Applied(status=201, body=CREATED, ids={"account_id": "7", "account_code": "AC1",
                                                             "crm_customer_number": "C-000001"})


def test_a_create_posts_the_mapped_body_to_the_single_endpoint_when_the_batch_one_is_missing() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/accounts/batch":
            return httpx.Response(404, json={"error": "no route POST /accounts/batch"})
        return httpx.Response(201, json=CREATED)

    outcome, [_, request] = attempt(account("create"), answer)
    assert request.method == "POST" and request.url.path == "/accounts"
    assert request.headers["Idempotency-Key"] == "key-1" and json.loads(request.content) == MAPPED
    assert isinstance(outcome, Applied) and outcome.status == 201 and outcome.ids["account_id"] == "7"


def test_an_update_looks_up_the_id_and_sends_only_changed_fields_with_auth() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"account_id": 42})
        return httpx.Response(200, json={"account_id": 42}, headers={"Idempotency-Key-Status": "replayed"})

    outcome, requests = attempt(account("update", changed=("credit_limit",)), answer,
                                env={"ISTHMUS_ERP_API_TOKEN": "tok"})
    lookup, patch = requests
    assert lookup.url.path == "/accounts/by-customer/C-000001" and "Idempotency-Key" not in lookup.headers
    assert patch.method == "PATCH" and patch.url.path == "/accounts/42"
    assert json.loads(patch.content) == {"credit_limit": "10.00"}
    assert patch.headers["Authorization"] == "Bearer tok"
    assert isinstance(outcome, Applied) and outcome.replayed


def test_a_validation_answer_is_permanent_and_keeps_the_answer() -> None:
    body = {"error": "name: too short", "field": "name", "fix": "send a name"}
    outcome, _ = attempt(account("create"), httpx.Response(422, json=body))
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.answer == body
    assert outcome.reason == 'ERP answered 422 to POST /accounts: {"error":"name: too short","field":"name",' \
                             '"fix":"send a name"}'


def test_throttling_is_transient_with_retry_after() -> None:
    outcome, _ = attempt(account("create"), httpx.Response(429, headers={"Retry-After": "3"}, json={}))
    assert isinstance(outcome, Failed) and outcome.kind == "transient" and outcome.retry_after == 3
    outcome, _ = attempt(account("create"), httpx.Response(500, headers={"Retry-After": "3"}, json={}))
    assert isinstance(outcome, Failed) and outcome.retry_after is None, "Retry-After counts on 429 and 503 only"


def test_a_lookup_that_finds_nothing_is_permanent_and_says_what_to_do() -> None:
    outcome, requests = attempt(account("deactivate"), httpx.Response(404, json={"error": "no account"}))
    assert len(requests) == 1
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.error_type == "LookupFailed"
    assert "lookup account_id (GET /accounts/by-customer/C-000001) found nothing" in outcome.reason


def test_no_answer_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outcome, _ = attempt(account("create"), refuse)
    assert isinstance(outcome, Failed) and outcome.kind == "transient"
    assert outcome.reason.startswith("ERP could not be reached for POST /accounts")


def test_a_connection_reset_without_a_message_names_its_type_and_cause() -> None:
    """httpx's ReadError of a reset connection (or a full listen backlog) has an empty text: the reason said
    "ERP could not be reached for POST /accounts: " and stopped."""
    def reset(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as cause:
            raise httpx.ReadError("", request=request) from cause

    outcome, _ = attempt(account("create"), reset)
    assert isinstance(outcome, Failed) and outcome.kind == "transient" and outcome.error_type == "ReadError"
    assert outcome.reason == ("ERP could not be reached for POST /accounts/batch: ReadError (ConnectionResetError: "
                              "[Errno 104] Connection reset by peer)")

    def bare(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("", request=request)

    outcome, _ = attempt(account("create"), bare)
    assert isinstance(outcome, Failed)
    assert outcome.reason == ("ERP could not be reached for POST /accounts/batch: RemoteProtocolError, with no "
                              "message")


def test_a_command_without_a_route_is_refused_naming_the_file() -> None:
    command = account("upsert")
    outcome, requests = attempt(command, httpx.Response(200))
    assert requests == [] and isinstance(outcome, Failed) and outcome.error_type == "NoRoute"
    assert "erp.yaml has no route for isthmus.canonical.Account upsert" in outcome.reason


def test_a_body_too_large_is_permanent_and_says_its_size_and_what_to_do() -> None:
    """A 413 said only what the target answered ("payload too large"): now how large the body was, that a retry
    cannot help, and what makes it smaller."""
    outcome, requests = attempt(account("create"), httpx.Response(413, json={"error": "payload too large"}))
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.status == 413
    last = requests[-1]
    assert outcome.reason.startswith(f'ERP answered 413 to POST {last.url.path}: {{"error":"payload too large"}}; ERP '
                                     f"refuses a request this large (a JSON body of {len(last.content)} bytes)")
    assert "limits.lines_per_call" in outcome.reason and "isthmus topics dlq replay" in outcome.reason
