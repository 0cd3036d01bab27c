"""An external-id search over a loose, paginated filter (``tests/sinks/upsert/clienthub.yaml``): only the records
holding the command's external id exactly count, every page is read where the route declares how, and an answer
that says more pages exist is not read as the whole when it does not. Over httpx's in-memory transport, a fake
ClientHub whose ``?ref=`` matches by prefix and answers pages of two."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.http_upsert import paging_hint, with_query
from streams.sinks.config import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parent
TARGET = HERE / "upsert" / "clienthub.yaml"
TOKEN = "secret-token"


class FakeClientHub:
    """Clients by external_ref; ``GET /v2/clients?ref=`` matches refs by prefix, two per page with a ``next``
    cursor (or, with ``links``, a ``links.next`` URL); ``PUT /v2/clients/{ref}`` creates or updates."""

    def __init__(self, refs: list[str], *, links: bool = False) -> None:
        self.clients = [{"id": f"c_{n}", "external_ref": ref, "name": ref} for n, ref in enumerate(refs)]
        self.links = links
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"message": "bad token"})
        if request.method == "GET":
            ref = request.url.params["ref"]
            rows = [c for c in self.clients if c["external_ref"].startswith(ref)]
            at = int(request.url.params.get("cursor", "0"))
            more = at + 2 < len(rows)
            page: dict[str, Any] = {"data": rows[at:at + 2]}
            if self.links:
                page["links"] = {"next": f"http://hub.test/v2/clients?ref={ref}&cursor={at + 2}" if more else None}
            else:
                page["next"] = str(at + 2) if more else None
            return httpx.Response(200, json=page)
        ref = request.url.path.rsplit("/", 1)[1]
        mine = [c for c in self.clients if c["external_ref"] == ref]
        if mine:
            mine[0]["name"] = ref + " updated"
            return httpx.Response(200, json={"status": "ok", "data": mine[0]})
        self.clients.append({"id": f"c_{len(self.clients)}", "external_ref": ref, "name": ref})
        return httpx.Response(201, json={"status": "ok", "data": self.clients[-1]})

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}{'?' + r.url.query.decode() if r.url.query else ''}" for r in self.requests]


def client(code: str) -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="create", entity_type="t",
                       entity_key=code, payload_type="isthmus.canonical.Account",
                       payload={"account_code": code, "name": "Client " + code})


def variant(tmp_path: Path, old: str, new: str) -> TargetConfig:
    text = TARGET.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "erp.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_target(path)


def attempt(hub: FakeClientHub, command: SinkCommand, config: TargetConfig | None = None) -> Attempt:
    async def run() -> Attempt:
        adapter = HttpAdapter(config or load_target(TARGET), base_url="http://hub.test", timeout_s=5,
                              max_connections=2, env={"CLIENTHUB_TOKEN": TOKEN},
                              transport=httpx.MockTransport(hub.handler))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_a_prefix_match_is_not_the_record_searched_for_so_the_command_creates_its_own() -> None:
    hub = FakeClientHub(["AC000099"])
    outcome = attempt(hub, client("AC00009"))
    assert isinstance(outcome, Applied), outcome
    assert outcome.body["upsert"] == "created" and outcome.ids == {"clienthub_id": "c_1"}
    assert hub.clients[0]["name"] == "AC000099", "the other record is left alone"
    assert hub.calls() == ["GET /v2/clients?ref=AC00009", "PUT /v2/clients/AC00009"]


def test_every_page_is_read_with_the_same_credentials_and_the_exact_record_is_found_on_page_four() -> None:
    refs = [f"AC00000{n}" for n in range(1, 8)]
    hub = FakeClientHub([*refs, "AC00000", "AC000009"])
    outcome = attempt(hub, client("AC00000"))
    assert isinstance(outcome, Applied), outcome
    assert outcome.body["upsert"] == "found, updated" and outcome.ids == {"clienthub_id": "c_7"}
    assert hub.calls() == ["GET /v2/clients?ref=AC00000", "GET /v2/clients?ref=AC00000&cursor=2",
                           "GET /v2/clients?ref=AC00000&cursor=4", "GET /v2/clients?ref=AC00000&cursor=6",
                           "GET /v2/clients?ref=AC00000&cursor=8", "PUT /v2/clients/AC00000"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)


def test_a_page_throttled_mid_search_is_asked_again_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.sinks.adapters.http_upsert.PAGE_RETRY_MAX_S", 0.01)
    hub = FakeClientHub(["AC000001", "AC000002", "AC00000"])
    answer = hub.handler
    throttled: list[str] = []

    def once(request: httpx.Request) -> httpx.Response:
        if "cursor=2" in str(request.url) and not throttled:
            throttled.append(str(request.url))
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow down"})
        return answer(request)

    hub.handler = once  # type: ignore[method-assign]
    outcome = attempt(hub, client("AC00000"))
    assert isinstance(outcome, Applied) and outcome.ids == {"clienthub_id": "c_2"}, outcome
    assert hub.calls() == ["GET /v2/clients?ref=AC00000", "GET /v2/clients?ref=AC00000&cursor=2",
                           "PUT /v2/clients/AC00000"] and len(throttled) == 1


def test_a_next_page_given_as_a_url_below_the_base_url_is_followed(tmp_path: Path) -> None:
    config = variant(tmp_path, "next: next\n        next_param: cursor", "next: links.next")
    hub = FakeClientHub(["AC000001", "AC000002", "AC00000"], links=True)
    outcome = attempt(hub, client("AC00000"), config)
    assert isinstance(outcome, Applied) and outcome.ids == {"clienthub_id": "c_2"}, outcome
    assert hub.calls()[1] == "GET /v2/clients?ref=AC00000&cursor=2"


def test_ambiguity_counts_only_the_records_holding_the_id_exactly() -> None:
    hub = FakeClientHub(["AC000001", "AC00000", "AC000002", "AC00000", "AC000003"])
    outcome = attempt(hub, client("AC00000"))
    assert isinstance(outcome, Failed) and outcome.error_type == "ExternalIdAmbiguous", outcome
    assert outcome.reason.startswith("2 records of ERP hold account_code 'AC00000' exactly (GET "
                                     "/v2/clients?ref={account_code} found ['c_1', 'c_3']; 3 more it answered hold "
                                     "another account_code and were left aside)")
    assert [r.method for r in hub.requests] == ["GET", "GET", "GET"]


def test_records_without_the_matched_field_are_not_trusted_and_the_error_names_what_they_carry(
        tmp_path: Path) -> None:
    config = variant(tmp_path, "        match: external_ref\n", "")
    hub = FakeClientHub(["AC000099"])
    outcome = attempt(hub, client("AC00009"), config)
    assert isinstance(outcome, Failed) and outcome.error_type == "ExternalIdUnchecked", outcome
    assert ("1 of the 1 records it answered have no account_code (they carry external_ref, id, name)"
            in outcome.reason)
    assert "match (e.g. match: external_ref)" in outcome.reason
    assert [r.method for r in hub.requests] == ["GET"]


def test_a_paginated_answer_without_declared_paging_fails_naming_the_route_and_the_fix(tmp_path: Path) -> None:
    config = variant(tmp_path, "        next: next\n        next_param: cursor\n", "")
    hub = FakeClientHub([f"AC00000{n}" for n in range(9)])
    outcome = attempt(hub, client("AC00000"), config)
    assert isinstance(outcome, Failed) and outcome.error_type == "SearchPaginated", outcome
    assert ("the answer of the external id's search (GET /v2/clients?ref=AC00000) says more pages exist "
            "(next: 2), and route Account create (erp.yaml:10) declares no paging") in outcome.reason
    assert "external_id.search: next: <its path in the answer, e.g. next>" in outcome.reason
    assert [r.method for r in hub.requests] == ["GET"]


def test_a_next_page_on_another_host_is_not_called(tmp_path: Path) -> None:
    config = variant(tmp_path, "next: next\n        next_param: cursor", "next: next")
    hub = FakeClientHub(["AC000001", "AC000002", "AC00000"])
    original = hub.handler

    def elsewhere(request: httpx.Request) -> httpx.Response:
        answer = original(request)
        if request.method == "GET":
            return httpx.Response(200, json={"data": [], "next": "https://evil.test/steal"})
        return answer

    hub.handler = elsewhere  # type: ignore[method-assign]
    outcome = attempt(hub, client("AC00000"), config)
    assert isinstance(outcome, Failed) and outcome.error_type == "SearchPageElsewhere", outcome
    assert len(hub.requests) == 1


def test_paging_hints_and_cursors() -> None:
    assert paging_hint({"data": [], "next": None, "has_more": False}) is None
    assert paging_hint({"items": [], "next_after": 7}) == "next_after: 7"
    assert paging_hint({"data": [], "meta": {"next_cursor": "abc"}}) == 'meta.next_cursor: abc'
    assert with_query("/v2/clients?ref=AC1&cursor=2", "cursor", "4") == "/v2/clients?ref=AC1&cursor=4"


def test_next_param_needs_next_and_match_is_a_dotted_path(tmp_path: Path) -> None:
    with pytest.raises(TargetConfigError) as raised:
        variant(tmp_path, "match: external_ref\n        next: next\n", "match: external ref\n")
    text = str(raised.value)
    assert "routes[0].external_id.search.next_param: next_param without next" in text, text
    assert "routes[0].external_id.search.match: 'external ref' is not a valid match" in text, text
