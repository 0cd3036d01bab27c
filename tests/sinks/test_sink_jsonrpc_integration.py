"""The JSON-RPC adapter against the real Tryton of the stack (the optional service ``tryton``: trytond 8.2 with
the party module, JSON-RPC on ``http://127.0.0.1:<ISTHMUS_TRYTON_PORT>/tryton/rpc/``, the admin's password in
the stack's secrets file as ``tryton.admin.password``), written to by real ``isthmus sink`` workers through
tests/sinks/tryton/targets/tryton.yaml: an error under HTTP 200 is dead-lettered with Tryton's message; a sink
SIGKILLed after its create reached Tryton, before its offset commit, finds the party on its retry instead of
making a second; two sinks creating the same code at once make one party."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pairing_proxy import pairing_proxy
from sink_support import (
    SinkProcess,
    account_payload,
    command,
    dead_letters_for,
    fresh_topics,
    produce,
    read_all,
    results_for,
)
from support.waiting import eventually

from streams.sinks.adapters.auth import secret_value
from streams.stack.running import RunningStack

HERE = Path(__file__).resolve().parent
SYSTEMS = HERE / "tryton" / "systems"


class Tryton:
    """A JSON-RPC client of the real Tryton for the test's own reads and writes, logged in as admin."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self._client = httpx.Client(timeout=30)
        answer = self._call("common.db.login", ["admin", {"password": password}], auth=None)
        user_id, session = answer[0], answer[1]
        self._auth = "Session " + base64.b64encode(f"admin:{user_id}:{session}".encode()).decode()

    def _call(self, method: str, params: list[Any], *, auth: str | None) -> Any:
        response = self._client.post(self.url, json={"id": 1, "method": method, "params": params},
                                     headers={"Authorization": auth} if auth else {})
        assert response.status_code == 200, f"{method}: {response.status_code} {response.text[:300]}"
        body = response.json()
        assert "error" not in body, f"{method}: {body['error']}"
        return body["result"]

    def call(self, method: str, params: list[Any]) -> Any:
        return self._call(method, params, auth=self._auth)

    def parties(self, code: str) -> list[dict[str, Any]]:
        """Every party (active or not) with that code."""
        ids = self.call("model.party.party.search", [[["code", "=", code], ["active", "in", [True, False]]],
                                                     0, None, None, {}])
        return list(self.call("model.party.party.read", [ids, ["name", "code"], {}])) if ids else []

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def tryton(tryton_stack: RunningStack) -> Iterator[Tryton]:
    """The stack's Tryton (started by the session's ``tryton_stack`` through the project's own code)."""
    stack = tryton_stack
    url = f"{stack.settings.tryton_url}/{stack.settings.tryton_db_name}/rpc/"
    password = secret_value("ISTHMUS_TRYTON_PASSWORD", "tryton.admin.password", env=os.environ,
                            secrets_file=stack.settings.home / "secrets" / "stack.properties")
    assert password, ("no Tryton admin password in ISTHMUS_TRYTON_PASSWORD or tryton.admin.password of the stack's "
                      "secrets file; start Tryton with `isthmus up tryton`")
    try:
        client = Tryton(url, password)
    except httpx.HTTPError as exc:
        raise AssertionError(f"Tryton does not answer at {url} ({exc}); start it with `isthmus up tryton`") from exc
    yield client
    client.close()


def running(*sinks: SinkProcess) -> bool:
    """False while every sink runs; a sink that exited fails the test at once with its log."""
    for sink in sinks:
        assert sink.alive(), sink.log()[-4000:]
    return False


def sink_env(topics_env: dict[str, str], url: str, **extra: str) -> dict[str, str]:
    return {**topics_env, "ISTHMUS_SYSTEMS_DIR": str(SYSTEMS), "ISTHMUS_SINK_BASE_URL": url, **extra}


def party_command(code: str, operation: str, name: str) -> dict[str, Any]:
    payload = account_payload(f"C-{code}", code=code, name=name)
    return command(target="tryton", operation=operation, payload_type="Account", entity_key=code, payload=payload)


def test_an_error_under_http_200_goes_to_the_dead_letter_topic_with_tryton_s_message(
        stack: RunningStack, tryton: Tryton, run: int) -> None:
    code = f"JR{run}"
    tryton.call("model.party.party.create", [[{"name": "Made by hand", "code": code}], {}])
    topics, env = fresh_topics(stack, "jsonrpc-error")
    # A plain create (no external id) of a code Tryton already has: HTTP 200, {"error": ["UserError", ...]}.
    produce(stack, topics.commands, [party_command(code, "upsert", "Duplicate")])
    sink = SinkProcess(stack, "tryton", sink_env(env, tryton.url), name="jsonrpc-error")
    try:
        found = eventually("the dead letter", lambda: dead_letters_for(stack, topics.dlq, {code}) or running(sink),
                         timeout=120)
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    letter = found[0].value
    assert letter is not None and letter["error_type"] == "RpcError"
    assert "UserError: The code on party must be unique." in letter["reason"], letter["reason"]
    assert _all_results(stack, topics.results) == []
    assert [p["name"] for p in tryton.parties(code)] == ["Made by hand"]


def test_a_sigkilled_sink_s_retry_finds_the_party_it_made(stack: RunningStack, tryton: Tryton, run: int) -> None:
    code = f"JK{run}"
    topics, env = fresh_topics(stack, "jsonrpc-kill")
    created = party_command(code, "create", "Killed before commit")
    produce(stack, topics.commands, [created])
    # Commits only every 10 minutes: the create reaches Tryton, the offset is never committed before the kill.
    sink = SinkProcess(stack, "tryton", sink_env(env, tryton.url, ISTHMUS_SINK_COMMIT_INTERVAL_MS="600000"),
                       name="jsonrpc-kill")
    try:
        eventually("the party in Tryton", lambda: tryton.parties(code) or running(sink), timeout=120, every=0.2)
        assert results_for(stack, topics.results, {created["command_id"]}) == [], "killed before the commit"
    finally:
        sink.kill()
    again = SinkProcess(stack, "tryton", sink_env(env, tryton.url), name="jsonrpc-kill-again")
    try:
        results = eventually("the result", lambda: results_for(stack, topics.results, {created["command_id"]})
                           or running(again), timeout=120)
    finally:
        assert again.stop() == 0, again.log()[-4000:]
    parties = tryton.parties(code)
    assert len(parties) == 1, "the retry found the party instead of making a second"
    assert len(results) == 1 and json.loads(results[0]["response"])["upsert"] == "found, updated", results
    assert results[0]["assigned_ids"] == {"tryton_party_id": str(parties[0]["id"])}
    assert "LoginFailed" not in again.log()


def party_create(method: str, path: str, body: Any) -> str | None:
    """The code of a party create, the key the proxy pairs."""
    if method != "POST" or not isinstance(body, dict) or body.get("method") != "model.party.party.create":
        return None
    return str(body["params"][0][0]["code"])


def test_two_sinks_creating_the_same_code_at_once_make_one_party(
        stack: RunningStack, tryton_stack: RunningStack, tryton: Tryton, run: int) -> None:
    codes = [f"JC{run}{i:02d}" for i in range(20)]
    first_topics, first_env = fresh_topics(stack, "jsonrpc-race-a")
    second_topics, second_env = fresh_topics(stack, "jsonrpc-race-b")
    produce(stack, first_topics.commands, [party_command(code, "create", "From sink A") for code in codes])
    produce(stack, second_topics.commands, [party_command(code, "create", "From sink B") for code in codes])
    # Through a proxy that makes the two sinks' creates of each code reach Tryton together (pairing_proxy), so
    # every code is raced whatever the sinks' start-up times.
    settings = tryton_stack.settings
    with pairing_proxy(settings.tryton_url, party_create) as (url, met):
        endpoint = f"{url}/{settings.tryton_db_name}/rpc/"
        sinks = [SinkProcess(stack, "tryton", sink_env(first_env, endpoint), name="jsonrpc-race-a"),
                 SinkProcess(stack, "tryton", sink_env(second_env, endpoint), name="jsonrpc-race-b")]
        try:
            for topics in (first_topics, second_topics):
                eventually(f"{len(codes)} results on {topics.results}",
                         lambda topics=topics: len(_all_results(stack, topics.results)) >= len(codes)
                         or running(*sinks), timeout=180, every=1)
        finally:
            for sink in sinks:
                assert sink.stop() == 0, sink.log()[-4000:]
    for code in codes:
        assert len(tryton.parties(code)) == 1, code
    # The race did happen for every code: each create lost to the other sink read Tryton's unique violation as
    # "exists", searched again and updated.
    assert sorted(met) == sorted(codes)
    assert sum(sink.log().count("created by another writer") for sink in sinks) == len(codes)
    assert dead_letters_for(stack, first_topics.dlq, set(codes)) == []
    assert dead_letters_for(stack, second_topics.dlq, set(codes)) == []


def _all_results(stack: RunningStack, topic: str) -> list[Any]:
    return [r.value for r in read_all(stack, topic, "CommandResult") if r.value is not None]
