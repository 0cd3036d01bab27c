"""The Kafka Connect client against the running Connect: its exceptions, and option lists in step."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectConfigRejected, ConnectorNotFound
from streams.capture.options import KINDS


@pytest.mark.parametrize("connector_class", sorted(KINDS))
def test_every_option_connect_declares_is_known_to_us_with_its_type(
        connect: ConnectClient, connector_class: str) -> None:
    declared = {k: v for k, v in connect.plugin_options(connector_class).items() if "(" not in k}
    kind = KINDS[connector_class]
    assert sorted(set(declared) - set(kind.options)) == []
    assert {k: kind.type_of(k) for k in declared} == declared


def test_an_unknown_connector_is_not_found_with_the_fix(connect: ConnectClient) -> None:
    name = f"isthmus-test-absent-{secrets.token_hex(3)}"
    with pytest.raises(ConnectorNotFound, match=rf"no connector '{name}'.*isthmus connectors deploy"):
        connect.status(name)
    assert connect.find_config(name) is None


def test_connect_refuses_an_invalid_config_put_directly_and_creates_nothing(
        deployed: dict[str, Any], connect: ConnectClient) -> None:
    name = f"isthmus-test-rejected-{secrets.token_hex(3)}"
    config = {**connect.get_config("crm-source"), "name": name, "snapshot.mode": "whenever",
              "topic.prefix": name, "slot.name": "never_created"}
    with pytest.raises(ConnectConfigRejected, match=f"isthmus connectors validate {name}"):
        connect.put_config(name, config)
    assert connect.find_config(name) is None
