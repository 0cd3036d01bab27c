"""A pass-through HTTP proxy to a real target that makes two writers' creates of one key meet: it holds a
request that ``pair_key`` names until the other writer's request of the same key arrives (or a timeout), then
forwards both, so they reach the target together, after both writers' searches found nothing. The race tests
of the external-id upsert use it so that every key is raced, whatever the two sinks' start-up times."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

#: ``(method, path, decoded JSON body or None) -> the key of a create to pair, or None to forward at once``.
PairKey = Callable[[str, str, Any], "str | None"]
_HOP = {"host", "content-length", "connection", "transfer-encoding"}


@contextmanager
def pairing_proxy(upstream: str, pair_key: PairKey, timeout_s: float = 5.0) -> Iterator[tuple[str, list[str]]]:
    """Yields the proxy's URL and the keys whose two requests met (each once). ``timeout_s`` stays below the
    sink's request timeout (10 s), so a lone request (a retry) is forwarded before its sink gives up on it."""
    from fastapi import FastAPI, Request
    from starlette.responses import Response

    from reference.common.server import ThreadedServer

    waiting: dict[str, asyncio.Event] = {}
    met: list[str] = []
    app = FastAPI(title="pairing proxy")

    async def forward(request: Request) -> Response:
        body = await request.body()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        key = pair_key(request.method, request.url.path, decoded)
        if key is not None and key in waiting:
            met.append(key)
            waiting.pop(key).set()
        elif key is not None:
            event = waiting[key] = asyncio.Event()
            try:
                await asyncio.wait_for(event.wait(), timeout_s)
            except TimeoutError:
                waiting.pop(key, None)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with httpx.AsyncClient(base_url=upstream, timeout=60) as client:
            answer = await client.request(request.method, target, content=body, headers=headers)
        return Response(content=answer.content, status_code=answer.status_code,
                        headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP})

    app.add_route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    with ThreadedServer(app) as server:
        yield server.url, met
