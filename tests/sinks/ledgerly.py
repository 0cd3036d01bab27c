"""Ledgerly, a made-up SaaS ledger behind OAuth2 client credentials, for the sink's tests: a real HTTP server on
loopback (a thread) whose token endpoint issues tokens lasting ``lifetime_s`` and whose API answers 401 to a token
it did not issue, that expired or that was revoked."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reference.common.server import ThreadedServer

CLIENT_ID = "isthmus-sync"
CLIENT_SECRET = "s3cr3t+/=value"
SYSTEM = "ledgerly"

TARGET = """\
system: ledgerly
adapter: http
http:
  base_url: {url}
  auth:
    oauth2:
      token_url: {url}/oauth/token
      client_id: {{env: LEDGERLY_CLIENT_ID}}
      client_secret: {{env: LEDGERLY_CLIENT_SECRET, secret: ledgerly.client.secret}}
{extra}routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /accounts
    body: {{code: account_code, name: name}}
    ids: [account_id]
"""
ENV = {"LEDGERLY_CLIENT_ID": CLIENT_ID, "LEDGERLY_CLIENT_SECRET": CLIENT_SECRET}


@dataclass
class Ledgerly:
    """A made-up SaaS ledger: ``POST /oauth/token`` issues a token lasting ``lifetime_s`` to the one client; the
    API answers 401 to a token it did not issue, that expired or that was revoked."""

    lifetime_s: float = 60.0
    client_auth: str = "body"
    url: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    #: token -> when it expires (monotonic); a revoked token is removed.
    tokens: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    accept_tokens: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def issue(self, form: dict[str, str], authorization: str | None) -> JSONResponse:
        if self.client_auth == "basic":
            assert authorization is not None and authorization.startswith("Basic "), authorization
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
            assert "client_secret" not in form
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed"},
                                status_code=401)
        token = f"tok-{next(self._serial)}"
        with self.lock:
            self.tokens[token] = time.monotonic() + self.lifetime_s
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_s})

    def taken(self, authorization: str | None) -> str | None:
        token = (authorization or "").removeprefix("Bearer ")
        with self.lock:
            expires = self.tokens.get(token)
        return token if self.accept_tokens and expires is not None and time.monotonic() < expires else None

    def revoke(self) -> None:
        with self.lock:
            self.tokens.clear()

    def refused(self) -> int:
        return sum(1 for _, status in self.calls if status == 401)


@contextmanager
def ledgerly(**settings: Any) -> Iterator[Ledgerly]:
    api = Ledgerly(**settings)
    app = FastAPI(title="ledgerly")

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        api.token_requests.append(form)
        return api.issue(form, request.headers.get("Authorization"))

    @app.post("/accounts")
    async def create(request: Request) -> JSONResponse:
        token = api.taken(request.headers.get("Authorization"))
        if token is None:
            api.calls.append(("POST /accounts", 401))
            return JSONResponse({"error": "invalid_token", "error_description": "The access token expired"},
                                status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        body = await request.json()
        with api.lock:
            api.accounts.append(body["code"])
            api.calls.append(("POST /accounts", 201))
            return JSONResponse({"account_id": len(api.accounts), "token": "never echoed"}, status_code=201)

    with ThreadedServer(app) as server:
        api.url = server.url
        yield api
