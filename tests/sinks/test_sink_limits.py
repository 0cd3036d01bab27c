"""Target limits: ``limits.lines_per_call`` and a route's ``parts`` are checked at load (file, line, key, fix);
a document over the limit goes out in parts (create, then add lines, each part with its own idempotency key),
or, when the route declares no parts, is refused before any call with the reason (a result the flow holds).
The HTTP calls go to httpx's in-memory transport; the real ERP takes them in test_sink_limits_integration.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.parts import TOO_BIG_STATUS, part_key, split
from streams.sinks.config import HttpRoute, load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand
from streams.stack.settings import PROJECT_ROOT

ROUTE = """\
  - payload_type: SalesOrder
    operation: create
    method: POST
    path: /orders
    body:
      account_id: erp_account_id
      lines: {from: lines, each: {sku: sku, quantity: quantity}}
    ids: [order_id]
"""
PARTS = '    parts: {field: lines, method: POST, path: "/orders/{order_id}/lines"}\n'


def target(tmp_path: Path, *, limits: str = "limits: {lines_per_call: 3}\n", parts: str = PARTS) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(f"system: erp\nadapter: http\n{limits}routes:\n{ROUTE}{parts}", encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    return str(caught.value)


def test_the_shipped_erp_file_declares_200_lines_a_call_and_how_to_add_more() -> None:
    config = load_target(PROJECT_ROOT / "targets" / "erp.yaml")
    route = config.route("isthmus.canonical.SalesOrder", "create")
    assert config.limits.lines_per_call == 200
    assert isinstance(route, HttpRoute) and route.parts is not None
    assert (route.parts.method, route.parts.path, route.parts.field) == ("POST", "/orders/{order_id}/lines", "lines")


def test_limits_and_parts_are_checked_with_line_key_and_fix(tmp_path: Path) -> None:
    message = refused(target(tmp_path, limits="limits: {lines_per_call: 0, lines_per_day: 5}\n"))
    assert "erp.yaml:3: limits.lines_per_call: lines_per_call must be a whole number of at least 1" in message
    assert "limits.lines_per_day: 'lines_per_day' is not a key of limits; fix: remove it" in message
    message = refused(target(tmp_path, parts='    parts: {field: sku, method: GET, path: "/orders/{nope}"}\n'))
    assert "routes[0].parts.field: 'sku' is no body field mapped with each:; fix: use one of lines" in message
    assert "routes[0].parts.method: 'GET' cannot carry lines" in message
    assert "routes[0].parts.path: the payload has no field 'nope'" in message
    message = refused(target(tmp_path, limits=""))
    assert "declares parts, but the file has no limits.lines_per_call; fix: add `limits: {lines_per_call:" in message


def test_a_parts_path_may_name_an_id_the_first_answer_assigns(tmp_path: Path) -> None:
    route = load_target(target(tmp_path)).route("isthmus.canonical.SalesOrder", "create")
    assert isinstance(route, HttpRoute) and route.parts is not None and route.list_fields() == ("lines",)


def test_split_keeps_the_order_and_the_keys_of_later_parts_are_their_own() -> None:
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert split([1, 2, 3], 3) == [[1, 2, 3]]
    assert part_key("erp.k", 1) == "erp.k" and part_key("erp.k", 3) == "erp.k.part3"


def order(lines: int) -> SinkCommand:
    payload = {"erp_account_id": 5, "order_number": "SO-1",
               "lines": [{"sku": f"S{n}", "quantity": "1"} for n in range(1, lines + 1)]}
    return SinkCommand(command_id="c1", idempotency_key="erp.key", target="erp", operation="create",
                       entity_type="isthmus.canonical.SalesOrder", entity_key="SO-1",
                       payload_type="isthmus.canonical.SalesOrder", payload=payload)


def attempt(config: TargetConfig, command: SinkCommand, answer: Any) -> tuple[Attempt, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = answer(request)
        return response

    async def run() -> Attempt:
        adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              secrets_file=Path("/nonexistent"), transport=httpx.MockTransport(handle))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(run()), seen


def lines_of(request: httpx.Request) -> list[str]:
    return [line["sku"] for line in json.loads(request.content)["lines"]]


def test_a_document_over_the_limit_is_created_with_the_first_part_then_added_to(tmp_path: Path) -> None:
    outcome, calls = attempt(load_target(target(tmp_path)), order(7),
                             lambda r: httpx.Response(201 if r.url.path == "/orders" else 200,
                                                      json={"order_id": 41, "lines": len(lines_of(r))}))
    assert [(c.method, c.url.path, c.headers["Idempotency-Key"]) for c in calls] == [
        ("POST", "/orders", "erp.key"), ("POST", "/orders/41/lines", "erp.key.part2"),
        ("POST", "/orders/41/lines", "erp.key.part3")]
    assert [lines_of(c) for c in calls] == [["S1", "S2", "S3"], ["S4", "S5", "S6"], ["S7"]]
    assert json.loads(calls[0].content)["account_id"] == 5
    assert isinstance(outcome, Applied) and outcome.status == 201 and outcome.ids == {"order_id": "41"}


def test_a_document_within_the_limit_is_one_call(tmp_path: Path) -> None:
    outcome, calls = attempt(load_target(target(tmp_path)), order(3), lambda r: httpx.Response(201, json={}))
    assert len(calls) == 1 and lines_of(calls[0]) == ["S1", "S2", "S3"] and isinstance(outcome, Applied)


def test_a_failed_part_fails_the_command_naming_the_part(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Idempotency-Key"].endswith("part3"):
            return httpx.Response(503, json={"error": "busy"})
        return httpx.Response(201, json={"order_id": 41})

    outcome, calls = attempt(load_target(target(tmp_path)), order(7), answer)
    assert isinstance(outcome, Failed) and outcome.kind == "transient" and len(calls) == 3
    assert outcome.reason.startswith("part 3 of 3 of SO-1 (the first 6 lines are applied): ERP answered 503")


def test_without_parts_a_document_over_the_limit_is_refused_with_the_reason_and_nothing_sent(
        tmp_path: Path) -> None:
    outcome, calls = attempt(load_target(target(tmp_path, parts="")), order(4), lambda r: httpx.Response(201))
    assert calls == []
    assert isinstance(outcome, Applied) and outcome.refused and outcome.status == TOO_BIG_STATUS
    assert outcome.body["error"] == ("4 lines in one SalesOrder create: erp.yaml takes at most 3 per call "
                                     "(limits.lines_per_call) and its route declares no parts to send the rest")
    assert outcome.body["field"] == "lines"


def test_requests_per_second_is_checked_at_load_with_line_key_and_fix(tmp_path: Path) -> None:
    for bad in ("0", "-3", "fast", "true", ".inf"):
        message = refused(target(tmp_path, limits=f"limits: {{lines_per_call: 3, requests_per_second: {bad}}}\n"))
        assert "erp.yaml:3: limits.requests_per_second: requests_per_second must be a number above 0" in message
        assert "fix: set it to the calls a second the target's API allows, a little under its published limit" \
            in message
    for good, rate in (("18", 18.0), ("0.5", 0.5)):
        config = load_target(target(tmp_path, limits=f"limits: {{lines_per_call: 3, requests_per_second: {good}}}\n"))
        assert config.limits.requests_per_second == rate and config.limits.lines_per_call == 3
    assert load_target(target(tmp_path)).limits.requests_per_second is None


def test_a_sql_target_takes_no_rate(tmp_path: Path) -> None:
    path = tmp_path / "erp.yaml"
    path.write_text("system: erp\nadapter: sql\nsql: {database: erp}\nlimits: {requests_per_second: 5}\nroutes:\n"
                    "  - payload_type: Account\n    operation: create\n    action: insert\n    table: accounts\n"
                    "    columns: {name: name}\n", encoding="utf-8")
    assert "limits.requests_per_second: a sql target makes no calls to an API" in refused(path)


WHOLE = """\
  - payload_type: SalesOrder
    operation: create
    method: POST
    path: /orders
    body: {body}
    ids: [order_id]
"""


def whole_target(tmp_path: Path, body: str) -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text(f"system: erp\nadapter: http\nlimits: {{lines_per_call: 3}}\nroutes:\n"
                    f"{WHOLE.replace('{body}', body)}", encoding="utf-8")
    return load_target(path)


@pytest.mark.parametrize("body", ["{account_id: erp_account_id, lines: lines}", "payload"])
def test_a_list_sent_whole_is_bounded_by_the_limit_too(tmp_path: Path, body: str) -> None:
    """A route that sends the lines as they are (`lines: lines`, or `body: payload`) is held to
    limits.lines_per_call like an `each:` field: refused before any call, with a fix that says how to send parts.
    Before, the limit bound nothing there: the document went out whole, and the target's own refusal came back."""
    config = whole_target(tmp_path, body)
    outcome, calls = attempt(config, order(4), lambda r: httpx.Response(422, json={"error": "too many lines"}))
    assert calls == []
    assert isinstance(outcome, Applied) and outcome.refused and outcome.status == TOO_BIG_STATUS
    assert outcome.body["error"] == ("4 lines in one SalesOrder create: erp.yaml takes at most 3 per call "
                                     "(limits.lines_per_call) and its route declares no parts to send the rest")
    assert outcome.body["fix"].startswith("map lines in the route's body with `{from: lines, each: {...}}` and "
                                          "declare its parts (how the target adds lines) in erp.yaml, or raise")
    outcome, calls = attempt(config, order(3), lambda r: httpx.Response(201, json={"order_id": 7}))
    assert len(calls) == 1 and lines_of(calls[0]) == ["S1", "S2", "S3"] and isinstance(outcome, Applied)
