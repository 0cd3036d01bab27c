"""A Kafka Connect still starting answers 404 to paths every running Connect has: said as a Connect not ready yet,
not as "nothing at GET /connector-plugins" (a new user ran `isthmus connectors validate` while Connect started)."""

from __future__ import annotations

import httpx
import pytest

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectorNotFound, ConnectUnreachable

pytestmark = pytest.mark.unit


def _starting(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error_code": 404, "message": "HTTP 404 Not Found"})


def test_a_404_at_the_plugin_list_is_a_connect_still_starting() -> None:
    with ConnectClient("http://connect.example:8083", transport=httpx.MockTransport(_starting)) as client:
        with pytest.raises(ConnectUnreachable, match=r"answered 404 to GET /connector-plugins, which a Connect that "
                                                      r"has started always has: it is still starting") as refusal:
            client.plugins()
        assert "ISTHMUS_CONNECT_URLS" in str(refusal.value)
        with pytest.raises(ConnectUnreachable):
            client.connectors()
        with pytest.raises(ConnectorNotFound):  # a connector of that name is another matter
            client.get_config("crm-source")
