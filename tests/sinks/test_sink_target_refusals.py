"""What a new user's own API answered, delivered end to end through the HTTP adapter and the deliverer (httpx's
in-memory transport, a fake ClientHub): a 401 for a wrong token holds every command instead of dead-lettering
it, an error under HTTP 200 is named by the call as made, and an ``ids`` path that finds nothing is said once
per route and counted."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.credentials import CredentialRefusals
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TARGET = """\
system: clienthub
adapter: http
http:
  auth:
    header: Authorization
    scheme: Bearer
    env: CLIENTHUB_TOKEN
routes:
  - payload_type: Account
    operation: create
    method: PUT
    path: /v2/clients/{account_code}
    body: {name: name}
    ids: {clienthub_id: data.id}
    answers:
      error: {when: {path: status, equals: error}, message: errors}
"""


class FakeClientHub:
    """PUT /v2/clients/{ref}: 401 unless the token is ``token``; 200 with ``{"status": "error"}`` for a name over
    30 characters; else 200 ``{"status": "ok", "data": {"id": ...}}``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"message": "bad token"})
        name = json.loads(request.content)["name"]
        if len(name) > 30:
            return httpx.Response(200, json={"status": "error", "errors": [{"field": "name", "msg": "too long"}]})
        return httpx.Response(200, json={"status": "ok", "data": {"id": "c_" + request.url.path[-2:]}})


def target(tmp_path: Path, text: str = TARGET) -> TargetConfig:
    path = tmp_path / "clienthub.yaml"
    path.write_text(text, encoding="utf-8")
    return load_target(path, writable=("clienthub",))


def client(code: str, name: str = "Acme") -> SinkCommand:
    return SinkCommand(command_id="c-" + code, idempotency_key="k-" + code, target="clienthub", operation="create",
                       entity_type="t", entity_key=code, payload_type="isthmus.canonical.Account",
                       payload={"account_code": code, "name": name})


def deliver(config: TargetConfig, hub: FakeClientHub, *commands: SinkCommand,
            on_call: Any = None) -> tuple[list[Delivered], Deliverer]:
    async def run() -> tuple[list[Delivered], Deliverer]:
        def handler(request: httpx.Request) -> httpx.Response:
            if on_call is not None:
                on_call(hub)
            return hub.handler(request)

        adapter = HttpAdapter(config, base_url="http://hub.test", timeout_s=5, max_connections=2,
                              env={"CLIENTHUB_TOKEN": "t0ken"}, transport=httpx.MockTransport(handler))
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        try:
            return [await deliverer.deliver(c) for c in commands], deliverer
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_a_401_holds_the_command_until_the_credentials_work_and_says_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hub = FakeClientHub(token="the-right-one")

    def fixed_after_four(fake: FakeClientHub) -> None:
        if len(fake.calls) == 4:
            fake.token = "t0ken"  # the operator gave the target the token Isthmus sends

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        (delivered,), deliverer = deliver(target(tmp_path), hub, client("AC000002"), on_call=fixed_after_four)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert delivered.outcome.ids == {"clienthub_id": "c_02"} and delivered.attempts == 5
    assert deliverer.gate.breaker.opened_count >= 1, "retried like an outage, through the breaker"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("sink clienthub: CLIENTHUB refuses Isthmus's credentials (401): CLIENTHUB answered "
                                '401 to PUT /v2/clients/AC000002: {"message":"bad token"}; no command is '
                                "dead-lettered for it")
    assert "check environment variable CLIENTHUB_TOKEN (http.auth, header Authorization, " in errors[0]
    assert "clienthub.yaml:4)" in errors[0]
    credentials = deliverer.credentials
    assert (credentials.refusing, credentials.outages, credentials.answers) == (False, 1, 4)
    assert any("accepts Isthmus's credentials again" in r.getMessage() for r in caplog.records)


def test_an_error_under_200_is_named_by_the_call_as_made(tmp_path: Path) -> None:
    hub = FakeClientHub(token="t0ken")
    (delivered,), _ = deliver(target(tmp_path), hub, client("AC000002", name="x" * 40))
    assert isinstance(delivered.outcome, Failed) and delivered.outcome.kind == "permanent"
    assert delivered.outcome.reason == ("CLIENTHUB answered 200 to PUT /v2/clients/AC000002 with an error: "
                                        '[{"field":"name","msg":"too long"}]')


def test_an_ids_path_that_finds_nothing_is_warned_once_per_route_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = target(tmp_path, TARGET.replace("data.id}", "data.idx}"))
    hub = FakeClientHub(token="t0ken")
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        delivered, deliverer = deliver(config, hub, client("AC000001"), client("AC000002"))
    assert all(isinstance(d.outcome, Applied) and d.outcome.ids == {} for d in delivered)
    assert deliverer.ids_not_found == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["sink clienthub: route Account create (clienthub.yaml:9) records no id at data.idx "
                        "(clienthub_id): the answer of PUT /v2/clients/AC000001 has nothing there; its top-level "
                        "keys: status, data. Fix the path in the route's ids (counted in "
                        "isthmus_sink_ids_not_found_total; said once per route)"], warnings


def test_a_throttle_or_an_outage_does_not_end_a_credential_refusal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A gateway answers 429 (or 503) before it checks the token: that says nothing about the credentials."""
    refusals = CredentialRefusals(target(tmp_path))
    refused = Failed(kind="transient", status=401, reason="CLIENTHUB answered 401")
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        for answer in (refused, Failed(kind="transient", status=429, reason="slow down"), refused,
                       Failed(kind="transient", reason="no answer"), refused):
            refusals.observe(answer)
        assert refusals.refusing and refusals.outages == 1 and refusals.answers == 3
        refusals.observe(Failed(kind="permanent", status=404, reason="no client"))
    assert not refusals.refusing
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


class ForbiddingHub(FakeClientHub):
    """The token works, but client AC000009 is forbidden to it (403), as an API forbids one record."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("AC000009"):
            self.calls.append(f"{request.method} {request.url.path}")
            return httpx.Response(403, json={"message": "not your client"})
        return super().handler(request)


def test_a_403_to_one_record_while_others_are_applied_is_dead_lettered_not_an_outage(tmp_path: Path) -> None:
    config, hub = target(tmp_path), ForbiddingHub(token="t0ken")

    async def run() -> list[Delivered]:
        adapter = HttpAdapter(config, base_url="http://hub.test", timeout_s=5, max_connections=2,
                              env={"CLIENTHUB_TOKEN": "t0ken"}, transport=httpx.MockTransport(hub.handler))
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=5, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.01, maximum=0.02, jitter=0)))
        try:
            return list(await asyncio.gather(deliverer.deliver(client("AC000009")),
                                             deliverer.deliver(client("AC000002"))))
        finally:
            await adapter.close()

    forbidden, applied = asyncio.run(run())
    assert isinstance(applied.outcome, Applied)
    assert isinstance(forbidden.outcome, Failed) and forbidden.outcome.kind == "permanent"
    assert forbidden.attempts == 2, "one try more, after the target accepted another call"
    assert forbidden.outcome.reason.startswith('CLIENTHUB answered 403 to PUT /v2/clients/AC000009: {"message":'
                                               '"not your client"}; CLIENTHUB accepted Isthmus\'s credentials')
    assert "grant the permission in CLIENTHUB, then replay the dead letter" in forbidden.outcome.reason


def test_a_403_to_every_call_stays_a_refusal_of_the_credentials(tmp_path: Path) -> None:
    hub = ForbiddingHub(token="t0ken")

    def opened_after_three(fake: FakeClientHub) -> None:
        if len(fake.calls) == 3:
            fake.handler = FakeClientHub.handler.__get__(fake)  # type: ignore[method-assign]

    (delivered,), deliverer = deliver(target(tmp_path), hub, client("AC000009"), on_call=opened_after_three)
    assert isinstance(delivered.outcome, Applied) and delivered.attempts == 4
    assert deliverer.credentials.outages == 1
