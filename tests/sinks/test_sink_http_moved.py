"""A record moved under another parent through an ``only_changed`` route whose parent id a lookup fills: the
command names the payload field that changed (``organisation_ref``), not the reference the lookup fills by it
(``organisation_id``), and a new user's update changed nothing in the target and was reported applied (5 of 5
users moved between organisations, trial AH). The filled reference goes with the field its lookup reads, on a
plain route and on an ``external_id`` route alike (httpx's in-memory transport, a made-up support desk)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.mapping import changed_with_lookups
from streams.sinks.config import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.outcomes import Applied
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

LOOKUP = """\
    lookups:
      organisation_id: {path: "/organisations?external_ref={organisation_ref}", take: data.*.id,
                        match: {external_ref: organisation_ref}}
"""
SCHEMA = {
    "type": "record", "name": "DeskUser", "namespace": "acme", "doc": "A user of the support desk.",
    "fields": [{"name": name, "type": ["null", "string"], "default": None, "doc": name} for name in (
        "external_ref", "desk_id", "email", "display_name", "organisation_ref", "organisation_id")],
}
PLAIN = """\
  - payload_type: DeskUser
    operation: update
    method: PATCH
    path: /users/{desk_id}
    body: {email: email, name: display_name, organisation_id: organisation_id}
    only_changed: true
""" + LOOKUP
UPSERT = """\
  - payload_type: DeskUser
    operation: update
    method: POST
    path: /users
    body: {email: email, name: display_name, organisation_id: organisation_id}
    only_changed: true
""" + LOOKUP + """\
    external_id:
      field: external_ref
      search: {path: "/users?external_ref={external_ref}", found_id: data.*.id, match: external_ref}
      update: {method: PATCH, path: "/users/{$id}", body: {email: email, name: display_name,
                                                            organisation_id: organisation_id}}
"""


class Desk:
    """Two organisations and one user, by external ref; every call and PATCH body kept."""

    def __init__(self) -> None:
        self.organisations = {"17": "org_a17", "300": "org_b300"}
        self.user = {"id": "usr_1", "external_ref": "u-1", "email": "ann@example.com", "organisation_id": "org_a17"}
        self.calls: list[str] = []
        self.patched: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        query = dict(request.url.params)
        if request.url.path == "/organisations":
            ref = query["external_ref"]
            found = [{"id": i, "external_ref": r} for r, i in self.organisations.items() if r == ref]
            return httpx.Response(200, json={"data": found})
        if request.url.path == "/users" and request.method == "GET":
            found = [self.user] if query.get("external_ref") == self.user["external_ref"] else []
            return httpx.Response(200, json={"data": found})
        if request.method == "PATCH":
            body = json.loads(request.content)
            self.patched.append(body)
            self.user.update(body)
            return httpx.Response(200, json=self.user)
        return httpx.Response(404, json={"error": "no route"})


def load(tmp_path: Path, route: str) -> TargetConfig:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "desk_user.avsc").write_text(json.dumps(SCHEMA), encoding="utf-8")
    store = SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(tmp_path / "schemas")}))
    path = tmp_path / "desk.yaml"
    path.write_text(textwrap.dedent("system: desk\nadapter: http\nroutes:\n" + route), encoding="utf-8")
    return load_target(path, store.schemas, writable=["desk"])


def moved(to: str) -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="desk", operation="update",
                       entity_type="t", entity_key="u-1", payload_type="acme.DeskUser",
                       payload={"external_ref": "u-1", "desk_id": "usr_1", "email": "ann@example.com",
                                "display_name": "Ann", "organisation_ref": to, "organisation_id": None},
                       changed_fields=("organisation_ref",))


def apply(config: TargetConfig, desk: Desk, command: SinkCommand) -> Any:
    async def run() -> Any:
        adapter = HttpAdapter(config, base_url="http://desk.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(desk.handler))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(run())


@pytest.mark.parametrize("route", [PLAIN, UPSERT], ids=["plain", "external_id"])
def test_a_user_moved_to_another_organisation_gets_the_new_organisations_id(tmp_path: Path, route: str) -> None:
    desk = Desk()
    outcome = apply(load(tmp_path, route), desk, moved("300"))
    assert isinstance(outcome, Applied), outcome
    assert desk.patched == [{"organisation_id": "org_b300"}], (
        "the update names organisation_ref, which the organisation_id lookup reads: the id goes with it, alone")
    assert desk.user["organisation_id"] == "org_b300"
    assert "GET /organisations" in desk.calls


def test_a_lookup_goes_with_a_field_its_path_or_match_reads(tmp_path: Path) -> None:
    config = load(tmp_path, PLAIN)
    lookups = config.routes[("acme.DeskUser", "update")].lookups
    assert changed_with_lookups(lookups, ["organisation_ref"]) == {"organisation_ref", "organisation_id"}
    assert changed_with_lookups(lookups, ["email"]) == {"email"}, "a lookup whose inputs did not change stays out"
