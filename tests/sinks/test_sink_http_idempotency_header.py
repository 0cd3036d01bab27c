"""The header an HTTP target reads the idempotency key from is the target file's ``http.idempotency_header``.

A new user's ticket shop (pretix) honours ``X-Idempotency-Key`` and ignores ``Idempotency-Key``, the only
header the sink sent: a create whose answer was lost made a second customer unless the route searched first
(``external_id``). Now the target file names the header (default ``Idempotency-Key``), or ``false`` for an API
that honours none; a bad name is refused at load. A real HTTP server on loopback, driven by the real HTTP adapter
and deliverer."""

from __future__ import annotations

import hashlib
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sink_support import deliver_over_http

from reference.common.server import ThreadedServer
from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

#: A create route of the shop; ``{http}`` is the target file's ``http:`` section.
TARGET = """\
system: erp
adapter: http
{http}
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /customers
    body: {{email: email, name: name}}
"""
SHOP_HEADER = "X-Idempotency-Key"


@dataclass
class Shop:
    """The shop's customers, the headers of every create it was sent, and ``lost``: creates applied whose
    answer is lost (a 504 instead). It honours ``X-Idempotency-Key`` as pretix does: a key seen before is
    answered with the stored answer, nothing created."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)
    lost: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def shop_app(shop: Shop) -> FastAPI:
    app = FastAPI(title="shop")

    @app.post("/customers")
    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        key = request.headers.get(SHOP_HEADER)
        with shop.lock:
            shop.headers.append(dict(request.headers))
            if key is not None and key in shop.keys:
                return JSONResponse(shop.keys[key], status_code=201)
            customer = {"identifier": hashlib.sha256(body["email"].encode()).hexdigest()[:6], **body}
            shop.customers.append(customer)
            if key is not None:
                shop.keys[key] = customer
            if shop.lost:
                shop.lost -= 1
                return JSONResponse({"detail": "gateway timeout"}, status_code=504)
        return JSONResponse(customer, status_code=201)

    return app


@pytest.fixture
def shop() -> Iterator[Shop]:
    state = Shop()
    with ThreadedServer(shop_app(state)) as server:
        state.url = server.url
        yield state


def target(tmp_path: Path, http: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(TARGET.format(http=textwrap.dedent(http).strip()), encoding="utf-8")
    return path


def deliver(tmp_path: Path, http: str, shop: Shop) -> Delivered:
    config = load_target(target(tmp_path, http))
    command = SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="create",
                          entity_type="Member", entity_key="ann@example.com", payload_type="isthmus.canonical.Account",
                          payload={"account_id": None, "email": "ann@example.com", "name": "Ann"})

    return deliver_over_http(config, shop.url, command, connections=2)


def sent(shop: Shop, header: str) -> list[str | None]:
    return [headers.get(header.lower()) for headers in shop.headers]


def test_a_lost_answer_is_answered_from_the_shops_keys_under_the_header_the_target_file_names(
        tmp_path: Path, shop: Shop) -> None:
    shop.lost = 1
    delivered = deliver(tmp_path, "http: {idempotency_header: X-Idempotency-Key}", shop)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert sent(shop, SHOP_HEADER) == ["key-1", "key-1"]
    assert sent(shop, "Idempotency-Key") == [None, None]
    assert len(shop.customers) == 1, "the retry after the lost answer created nothing"


def test_by_default_the_key_goes_in_idempotency_key(tmp_path: Path, shop: Shop) -> None:
    delivered = deliver(tmp_path, "http: {headers: {X-Client: isthmus}}", shop)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert sent(shop, "Idempotency-Key") == ["key-1"] and sent(shop, SHOP_HEADER) == [None]


def test_false_sends_no_key_at_all(tmp_path: Path, shop: Shop) -> None:
    delivered = deliver(tmp_path, "http: {idempotency_header: false}", shop)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert not [name for name in shop.headers[0] if "idempotency" in name]


@pytest.mark.parametrize(("http", "said"), [
    ("http: {idempotency_header: X Idempotency}", "http.idempotency_header: 'X Idempotency' is not a header name"),
    ("http: {idempotency_header: null}", "http.idempotency_header: None is not a header name"),
    ("http: {idempotency_header: true}", "http.idempotency_header: True is not a header name"),
    ("http: {idempotency_header: Content-Type}", "http.idempotency_header: Content-Type is set by the sink itself"),
    ("http: {idempotency_header: X-Idempotency-Key, headers: {x-idempotency-key: fixed}}",
     "http.headers.x-idempotency-key: x-idempotency-key is set by the sink itself"),
])
def test_a_bad_idempotency_header_is_refused_at_load(tmp_path: Path, http: str, said: str) -> None:
    with pytest.raises(TargetConfigError) as caught:
        load_target(target(tmp_path, http))
    assert said in str(caught.value)
    assert "idempotency_header: false" in str(caught.value) or "headers" in said
