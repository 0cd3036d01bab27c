"""The sinks' HTTP pool asks an idle connection "did the server close you?" with one poll of its own socket
(streams/sinks/adapters/pool.py), and still answers it as httpcore does: readable or closed means expired."""

from __future__ import annotations

import asyncio
import socket

import httpcore
import httpx
import pytest

from streams.sinks.adapters.pool import CheapLivenessBackend, pooled_transport

pytestmark = pytest.mark.unit


def test_the_pool_httpx_builds_connects_through_the_cheap_backend() -> None:
    transport = pooled_transport(httpx.Limits(max_connections=4, max_keepalive_connections=4))
    assert isinstance(transport._pool, httpcore.AsyncConnectionPool)
    assert isinstance(transport._pool._network_backend, CheapLivenessBackend)
    assert transport._pool._max_connections == 4


def test_an_idle_connection_is_readable_only_once_the_server_wrote_or_closed() -> None:
    async def check() -> list[bool]:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        stream = await CheapLivenessBackend().connect_tcp("127.0.0.1", port, timeout=5)
        peer, _ = server.accept()
        seen = [stream.get_extra_info("is_readable")]
        peer.close()  # the server drops the keep-alive connection: the next read would return b""
        await asyncio.sleep(0.05)
        seen.append(stream.get_extra_info("is_readable"))
        await stream.aclose()
        seen.append(stream.get_extra_info("is_readable"))  # closed here: POLLNVAL, expired as in httpcore
        assert stream.get_extra_info("socket") is not None
        server.close()
        return seen

    assert asyncio.run(check()) == [False, True, True]
