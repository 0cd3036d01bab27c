"""Every route again under ``/enveloped``, answered the way many real APIs answer (JSON-RPC servers, Tryton,
some SOAP-to-JSON gateways): always HTTP 200, with ``{"result": <the answer>, "error": null}`` on success and
``{"result": null, "error": [<class>, <message>, <the answer>]}`` on failure. Exists so the sinks' answer rules
(targets/README.md, "Answers") are proved against a real server: an error under HTTP 200 must not be taken
for success.

The error class says what kind of failure it was: ``UserError`` (400, 404, 422: the request is wrong),
``ConflictError`` (409, 412), ``TemporaryError`` (429, 5xx: worth retrying). The call inside is the same as
without the prefix: the same idempotency keys, the same fault switch (which sees the path without it).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/enveloped"
#: Headers of the inner answer kept on the enveloped one.
KEPT_HEADERS = frozenset({b"idempotency-key-status", b"etag", b"retry-after"})


def error_class(status: int) -> str:
    if status == 429 or status >= 500:
        return "TemporaryError"
    if status in (409, 412):
        return "ConflictError"
    return "UserError"


def envelope(status: int, answer: Any) -> dict[str, Any]:
    if 200 <= status < 300:
        return {"result": answer, "error": None}
    message = answer.get("error") if isinstance(answer, dict) else None
    return {"result": None, "error": [error_class(status), str(message or answer or f"HTTP {status}"), answer]}


class EnvelopeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        inner_path = path[len(PREFIX):]
        inner = {**scope, "path": inner_path, "raw_path": inner_path.encode()}
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, capture)
        status = int(start.get("status", 500))
        raw = b"".join(chunks)
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw.decode(errors="replace")
        body = json.dumps(envelope(status, answer), separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() in KEPT_HEADERS]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
