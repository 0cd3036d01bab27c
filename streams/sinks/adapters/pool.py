"""The HTTP connection pool of the sinks' HTTP-borne adapters: httpx's, with a cheaper liveness check.

On every change (a request queued, a response closed) httpcore's pool asks each idle keep-alive connection
whether the server closed it (``get_extra_info("is_readable")``). Through the default anyio backend each
answer rebuilds the socket's whole attribute table (a ``getpeername`` call among them), creates a
``select.poll``, registers the socket and polls it; with 32 connections and two calls per SalesOrder that
walk was most of the ERP sink's CPU (``python -m bench sink``, issue 17). The streams made here keep their
socket and one registered poll object, so the same question is one ``poll(0)`` with the same answer: an idle
connection whose socket is readable (or closed) is expired, as before.

httpcore 1.0's pool also leaks a connection slot: when a request waiting for a connection is handed a new one (a
connection closed by the server is replaced) and its wait ends at the same moment (its pool timeout, a
cancellation), the request leaves the pool but the new connection stays, never opened: not idle, not closed, not
available, so never reused nor dropped. A new user's sink against a slow Tryton lost all 32 slots so within ~70
requests and then waited for ever with no socket open. :class:`ReleasingPool` drops such a connection, which no
request holds and which was never opened, each time the pool assigns its connections.
"""

from __future__ import annotations

import select
import socket
import typing
from collections.abc import Iterable

import httpcore
import httpx

#: httpcore's socket option type (level, option, value), as httpcore spells it.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _Stream(httpcore.AsyncNetworkStream):
    """An anyio stream whose ``is_readable`` polls its own socket through one poll object kept for it."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        sock: socket.socket | None = stream.get_extra_info("socket")
        self._poll: select.poll | None = None
        if sock is not None and sock.fileno() >= 0:
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        # TLS wraps the socket: the wrapped stream's own answers are used from here on.
        return await self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable" and self._poll is not None:
            # A closed socket polls as POLLNVAL: readable, so the connection counts as expired, as in httpcore.
            return bool(self._poll.poll(0))
        return self._stream.get_extra_info(info)


class CheapLivenessBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its plain TCP streams wrapped in :class:`_Stream`."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
        return _Stream(stream)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SocketOption] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class ReleasingPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, dropping the connections its requests left unopened (see the module)."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        held = {id(request.connection) for request in self._requests if request.connection is not None}
        orphans = [connection for connection in self._connections
                   if id(connection) not in held and connection.info() == "CONNECTING"]
        for connection in orphans:  # never opened: nothing to close
            self._connections.remove(connection)
        return super()._assign_requests_to_connections()


def pooled_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport with ``limits``, its pool a :class:`ReleasingPool` connecting through
    :class:`CheapLivenessBackend`.

    httpx 0.28 takes neither a pool nor a network backend, so the pool it built is replaced, before any connection
    exists, by one made with the same settings (tests/sinks/test_sink_http_pool.py fails if an httpx or httpcore
    upgrade renames them)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    if type(pool) is not httpcore.AsyncConnectionPool or not hasattr(pool, "_network_backend"):
        raise TypeError(f"httpx's transport holds {type(pool).__name__}, not an httpcore.AsyncConnectionPool with a "
                        "network backend; the sinks' pool (streams/sinks/adapters/pool.py) needs updating")
    transport._pool = ReleasingPool(
        ssl_context=pool._ssl_context, max_connections=pool._max_connections,
        max_keepalive_connections=pool._max_keepalive_connections, keepalive_expiry=pool._keepalive_expiry,
        http1=pool._http1, http2=pool._http2, retries=pool._retries, local_address=pool._local_address,
        uds=pool._uds, socket_options=pool._socket_options, network_backend=CheapLivenessBackend())
    return transport
