"""The client's transport failures against real loopback sockets: nothing listening, a silent server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectTimeout, ConnectUnreachable


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ConnectClient(f"http://127.0.0.1:{port}") as client, \
            pytest.raises(ConnectUnreachable, match=r"not reachable at http://127.0.0.1:\d+.*isthmus up"):
        client.connectors()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_server_that_never_answers_times_out(silent_server: str) -> None:
    with ConnectClient(silent_server, timeout=0.5) as client, \
            pytest.raises(ConnectTimeout, match="did not answer GET /connectors in time"):
        client.connectors()
