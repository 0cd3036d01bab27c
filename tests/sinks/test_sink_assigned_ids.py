"""An update decided before the entity flow knew the target's id of the record it had just created.

A new user's target routed updates and deactivates by the id it assigns (``PATCH /clients/{erp_account_id}``), with
no lookup: every command the flow decided before the create's echo linked that id (the contacts added a second after
the customer, the first edit, a delete soon after) was dead-lettered as ``UnresolvedReference`` on a healthy target,
101 of 361 commands, and the target stayed stale until a replay. The sink had read the id from the create's answer
(the route's ``ids``) moments before: the entity's later commands now take it (:mod:`streams.sinks.assigned`).
Driven through the real HTTP adapter and deliverer, the commands of one entity in order, over httpx's in-memory
transport (a made-up client registry standing as the ERP)."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.assigned import AssignedIds
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /clients
    body: {name: name, code: account_code}
    ids: {account_id: data.id}
  - payload_type: Account
    operation: update
    method: PATCH
    path: /clients/{account_id}
    body: {name: name}
  - payload_type: Account
    operation: deactivate
    method: DELETE
    path: /clients/{account_id}
"""


class Registry:
    """Clients by a number it assigns (an integer); every call recorded as method and path."""

    def __init__(self) -> None:
        self.clients: dict[int, dict[str, object]] = {}
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            number = 150 + len(self.clients)
            self.clients[number] = json.loads(request.content)
            return httpx.Response(201, json={"data": {"id": number}})
        number = int(request.url.path.rpartition("/")[2])
        if number not in self.clients:
            return httpx.Response(404, json={"error": f"no client {number}"})
        if request.method == "DELETE":
            del self.clients[number]
            return httpx.Response(204)
        self.clients[number].update(json.loads(request.content))
        return httpx.Response(200, json={"data": {"id": number}})


def command(n: int, operation: str, code: str, *, name: str = "Ann", account_id: int | None = None,
            changed: tuple[str, ...] = ()) -> SinkCommand:
    return SinkCommand(command_id=f"c{n}", idempotency_key=f"k{n}", target="erp", operation=operation,
                       entity_type="isthmus.canonical.Customer", entity_key=code,
                       payload_type="isthmus.canonical.Account", changed_fields=changed,
                       payload={"account_id": account_id, "account_code": code, "name": name})


def deliver_in_order(config: TargetConfig, handler: Callable[[httpx.Request], httpx.Response],
                     *commands: SinkCommand, deliverer_of: list[Deliverer] | None = None) -> list[Delivered]:
    """The commands applied one after the other by one deliverer, as the sink applies one entity's commands."""

    async def go() -> list[Delivered]:
        adapter = HttpAdapter(config, base_url="http://target.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handler))
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=5, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        if deliverer_of is not None:
            deliverer_of.append(deliverer)
        try:
            return [await deliverer.deliver(c) for c in commands]
        finally:
            await adapter.close()

    return asyncio.run(go())


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(TARGET), encoding="utf-8")
    return load_target(path)


def test_commands_decided_before_the_id_was_known_take_the_one_the_create_was_answered_with(
        config: TargetConfig) -> None:
    registry = Registry()
    made = deliver_in_order(config, registry.handler, command(1, "create", "C-1"),
                            command(2, "update", "C-1", name="Ann B", changed=("name",)),
                            command(3, "create", "C-2", name="Bo"), command(4, "deactivate", "C-2"))

    assert all(isinstance(d.outcome, Applied) for d in made), [d.outcome for d in made]
    assert registry.calls == ["POST /clients", "PATCH /clients/150", "POST /clients", "DELETE /clients/151"]
    assert registry.clients == {150: {"name": "Ann B", "code": "C-1"}}


def test_an_id_is_never_taken_across_entities_and_a_known_one_is_not_replaced(config: TargetConfig) -> None:
    registry = Registry()
    registry.clients[90] = {"name": "Old", "code": "C-9"}
    done = deliver_in_order(config, registry.handler, command(1, "create", "C-1"),
                            command(2, "update", "C-2", name="Cy", changed=("name",)),
                            command(3, "update", "C-1", name="Di", account_id=90, changed=("name",)))

    other = done[1].outcome
    assert isinstance(other, Failed) and other.error_type == "UnresolvedReference"  # C-2's id was never answered
    assert registry.calls == ["POST /clients", "PATCH /clients/90"]


def test_a_null_the_command_names_changed_is_a_clear_and_is_sent_as_it_is(config: TargetConfig) -> None:
    registry = Registry()
    kept: list[Deliverer] = []
    done = deliver_in_order(config, registry.handler, command(1, "create", "C-1"),
                            command(2, "update", "C-1", changed=("account_id",)), deliverer_of=kept)

    assert isinstance(done[1].outcome, Failed) and done[1].outcome.error_type == "UnresolvedReference"
    assert kept[0].assigned.filled == 0


def test_the_kept_entities_are_bounded_oldest_forgotten_first() -> None:
    assigned = AssignedIds(limit=2)
    for n in range(3):
        create = command(n, "create", f"C-{n}")
        assigned.learn(create, Applied(status=201, body={"data": {"id": n}}, ids={"account_id": str(n)}),
                       {"account_id": "data.id"})
    assert assigned.filled_in(command(9, "update", "C-0")).payload["account_id"] is None
    assert assigned.filled_in(command(9, "update", "C-2")).payload["account_id"] == 2  # the answer's number
