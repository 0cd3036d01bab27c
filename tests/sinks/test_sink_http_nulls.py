"""A null a command clears a field with, through an HTTP route: the body's spec must send it (``keep_null``),
with or without ``only_changed``, or the command is dead-lettered naming the field before any call, never
reported applied with the old value kept (as a JSON-RPC route's: test_sink_jsonrpc_nulls.py). Over httpx's
in-memory transport, a made-up ``ledger``."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import load_target
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

ROUTE = """\
- payload_type: Account
  operation: update
  method: PATCH
  path: /accounts/{account_id}
  lookups:
    account_id: {path: "/accounts/by-code/{account_code}", take: id}
  body:
    name: name
    credit_limit: {from: credit_limit, keep_null: true}
  only_changed: true
"""


def update(changed: tuple[str, ...], **payload: Any) -> SinkCommand:
    full = {"account_id": 7, "account_code": "L-1", "name": "Acme", "credit_limit": "389.75", "active": True,
            **payload}
    return SinkCommand(command_id="c1", idempotency_key="k1", target="ledger", operation="update",
                       entity_type="t", entity_key="L-1", payload_type="isthmus.canonical.Account", payload=full,
                       changed_fields=changed)


def run(tmp_path: Path, routes: str, command: SinkCommand) -> tuple[Attempt, list[Any]]:
    """The attempt, and ``(method, path, body)`` of every call made."""
    path = tmp_path / "ledger.yaml"
    path.write_text("system: ledger\nadapter: http\nroutes:\n" + textwrap.indent(routes, "  "), encoding="utf-8")
    calls: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path, json.loads(request.content) if request.content else None))
        return httpx.Response(200, json={"id": 7})

    async def scenario() -> Attempt:
        adapter = HttpAdapter(load_target(path, writable=["ledger"]), base_url="http://ledger.test", timeout_s=5,
                              max_connections=2, env={}, secrets_file=Path("/nonexistent"),
                              transport=httpx.MockTransport(handle))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(scenario()), calls


def test_a_cleared_field_the_body_keeps_null_is_sent(tmp_path: Path) -> None:
    outcome, calls = run(tmp_path, ROUTE, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Applied) and calls == [("PATCH", "/accounts/7", {"credit_limit": None})], calls


@pytest.mark.parametrize("only_changed", [True, False])
def test_a_cleared_field_the_body_leaves_out_is_dead_lettered_before_any_call(tmp_path: Path,
                                                                              only_changed: bool) -> None:
    routes = ROUTE.replace("{from: credit_limit, keep_null: true}", "credit_limit")
    routes = routes if only_changed else routes.replace("  only_changed: true\n", "")
    outcome, calls = run(tmp_path, routes, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.error_type == "NullNotSent"
    assert "clears credit_limit" in outcome.reason, outcome.reason
    assert "route for Account update (ledger.yaml:4)" in outcome.reason, outcome.reason
    assert "in the route's body ({from: credit_limit, keep_null: true})" in outcome.reason, outcome.reason
    assert calls == []


def test_a_whole_payload_body_cannot_send_a_null(tmp_path: Path) -> None:
    routes = ROUTE.split("  body:")[0] + "  body: payload\n"
    outcome, calls = run(tmp_path, routes, update(("credit_limit",), credit_limit=None))
    assert isinstance(outcome, Failed) and "clears credit_limit" in outcome.reason and calls == []


def test_a_null_a_lookup_fills_and_an_unchanged_null_are_no_clears(tmp_path: Path) -> None:
    routes = ROUTE.replace("{from: credit_limit, keep_null: true}", "credit_limit").replace(
        "    name: name\n", "    name: name\n    ref: account_id\n")
    outcome, calls = run(tmp_path, routes, update(("name", "account_id"), account_id=None, credit_limit=None))
    assert isinstance(outcome, Applied), outcome
    assert calls[-1] == ("PATCH", "/accounts/7", {"name": "Acme", "ref": 7}), calls
