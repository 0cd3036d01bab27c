"""A null a command clears a field with, through a JSON-RPC route: a new user's ERP kept a price the PIM had
cleared (``then: [{params: [[template_id], {list_price: {from: list_price, keep_null: true}}], writes:
[list_price]}]``): the step was skipped because its field was null, and the command reported applied. Made up
here as an ``Account`` whose ``credit_limit`` a ``ledger`` keeps, over httpx's in-memory transport."""

from __future__ import annotations

import asyncio
import json
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.jsonrpc import JsonRpcAdapter
from streams.sinks.config import load_target
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

ACCOUNT = "isthmus.canonical.Account"
#: The user's route: the first call makes the record active (only when that changed), a further call writes the
#: limit, sending its null.
ROUTE = """\
- payload_type: Account
  operation: update
  method: model.ledger.write
  params: [[account_id], {active: active}]
  writes: [active]
  then:
    - method: model.ledger.write
      params: [[account_id], {credit_limit: {from: credit_limit, keep_null: true}}]
      writes: [credit_limit]
"""


def target(tmp_path: Path, routes: str) -> Any:
    path = tmp_path / "ledger.yaml"
    path.write_text("system: ledger\nadapter: jsonrpc\njsonrpc: {version: \"2.0\"}\nroutes:\n"
                    + textwrap.indent(routes, "  "), encoding="utf-8")
    return load_target(path, writable=["ledger"])


def update(changed: tuple[str, ...], **payload: Any) -> SinkCommand:
    full = {"account_id": 7, "account_code": "L-1", "name": "Acme", "credit_limit": "389.75", "active": True,
            **payload}
    return SinkCommand(command_id="c1", idempotency_key="k1", target="ledger", operation="update",
                       entity_type="t", entity_key="L-1", payload_type=ACCOUNT, payload=full, changed_fields=changed)


def run(tmp_path: Path, routes: str, command: SinkCommand) -> tuple[Attempt, list[Any]]:
    """The attempt, and the params of every call made (each answered with a result)."""
    calls: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body["params"])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": True})

    async def scenario() -> Attempt:
        rpc = JsonRpcAdapter(target(tmp_path, routes), url="http://ledger/rpc", timeout_s=5, max_connections=2,
                             env={}, transport=httpx.MockTransport(handle))
        try:
            return await rpc.attempt(command)
        finally:
            await rpc.close()

    return asyncio.run(scenario()), calls


def test_a_cleared_field_of_a_writes_gated_call_is_sent_as_null(tmp_path: Path) -> None:
    outcome, calls = run(tmp_path, ROUTE, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Applied), outcome
    assert calls == [[[7], {"credit_limit": None}]]
    assert outcome.body["then"] == [True]


def test_a_value_is_written_as_before_and_an_unchanged_null_is_not(tmp_path: Path) -> None:
    _, calls = run(tmp_path, ROUTE, update(("credit_limit",), credit_limit="12.50"))
    assert calls == [[[7], {"credit_limit": "12.50"}]]
    _, calls = run(tmp_path, ROUTE, update(("name",), credit_limit=None))
    assert calls == []


def test_a_null_in_a_list_keeps_its_place_and_is_sent(tmp_path: Path) -> None:
    routes = ROUTE.replace("{credit_limit: {from: credit_limit, keep_null: true}}", "credit_limit")
    outcome, calls = run(tmp_path, routes, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Applied) and calls == [[[7], None]], (outcome, calls)


def test_a_null_the_route_cannot_send_is_dead_lettered_naming_the_field(tmp_path: Path) -> None:
    routes = ROUTE.replace("{from: credit_limit, keep_null: true}", "credit_limit")
    outcome, calls = run(tmp_path, routes, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Failed) and outcome.kind == "permanent", outcome
    assert calls == []  # nothing half-written
    assert outcome.error_type == "NullNotSent"
    assert "clears credit_limit" in outcome.reason and "ledger.yaml" in outcome.reason, outcome.reason
    assert "{from: credit_limit, keep_null: true}" in outcome.reason and "cannot_clear" in outcome.reason


def test_a_null_whose_call_finds_its_record_by_it_cannot_be_sent(tmp_path: Path) -> None:
    """A call whose external id is the cleared field cannot search for it (a contact mechanism by its value)."""
    routes = ROUTE + textwrap.indent(textwrap.dedent("""\
            - method: model.mechanism.create
              params: [[{party: account_id, value: {from: email, keep_null: true}}]]
              writes: [email]
              external_id:
                field: email
                search: {method: model.mechanism.search, params: [[[{value: value}, {value: "="}, email]]]}
                update: {method: model.mechanism.write, params: [[$id], {value: {from: email, keep_null: true}}]}
        """), "    ")
    outcome, calls = run(tmp_path, routes, update(("email",), email=None))
    assert isinstance(outcome, Failed) and "clears email" in outcome.reason and calls == [], outcome


def test_a_create_makes_no_call_for_a_field_it_lacks(tmp_path: Path) -> None:
    routes = ROUTE.replace("operation: update", "operation: create")
    command = replace(update((), credit_limit=None), operation="create")
    outcome, calls = run(tmp_path, routes, command)
    assert isinstance(outcome, Applied) and calls == [[[7], {"active": True}]], (outcome, calls)
