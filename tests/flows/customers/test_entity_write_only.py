"""A write-only system (``capture: none``: a SaaS API Isthmus writes into and never reads) in an entity flow: no
echo ever comes back, so what the flow commanded there is taken as what it holds. A create is sent once, later
changes send updates of what changed, and a replay of a dead-lettered create or update re-derives the command
from the current state. Run through LocalRun with the real handler, on the made-up ``hub`` of
test_entity_block.py and a write-only ``saas``."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from support.systems import system, write_only
from test_entity_block import Parties, _catalogs, _party

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.mapping import MappingError, load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

CODE = "P-000001"
ASKED_AT = dt.datetime(2026, 5, 2, 9, 0, tzinfo=dt.UTC)

RECORD = """\
description: A hub party of kind org, written into the SaaS API.
target: isthmus.canonical.Customer
key: customer_number
fields:
  crm_customer_id: {owner: hub, policy: owner_wins}
  name: {owner: hub, policy: owner_wins}
  email: {owner: hub, policy: owner_wins}
  active: {owner: hub, policy: latest_commit_wins}
sources:
  hub_party:
    system: hub
    table: party
    when: "kind == 'org'"
    fields: {customer_number: code, crm_customer_id: party_id, name: display_name, email: mail}
    on_delete: {set: {active: false}}
"""
LINK = """\
description: The hub's id of a party.
target: isthmus.canonical.CustomerAccountXref
key: customer_number
fields:
  crm_customer_id: {owner: hub, policy: owner_wins}
sources:
  hub_party:
    system: hub
    table: party
    when: "kind == 'org'"
    fields: {customer_number: code, crm_customer_id: party_id}
    on_delete: {set: {crm_customer_id: null}}
"""
#: The SaaS client: a projection of the canonical record only (no source of the SaaS itself).
PAYLOAD = """\
description: What a SaaS command carries.
target: isthmus.canonical.Account
key: account_code
sources:
  party:
    record: isthmus.canonical.Customer
    fields: {account_code: customer_number, name: name, email: email, active: active}
"""
FLOW = """\
name: test-saas
block: entity
description: hub parties -> the SaaS API (one way, written only)
entity:
  record: party
  publish: test.canonical.parties
  link: party_link
  origin: {origin}
  active: active
  on_inactive: deactivate
  systems:
    saas:
      payload: client
      writes: [name, email, active]
"""


def _systems() -> Systems:
    return Systems({"hub": system("hub", prefix="hq", namespace="main", engine=Engine.POSTGRESQL),
                    "saas": write_only("saas")}, directory=Path("systems"))


def _project(tmp_path: Path, *, origin: str = "hub", record: str = RECORD) -> Path:
    for folder, files in {"mappings": {"party": record, "party_link": LINK, "client": PAYLOAD},
                          "flows": {"saas": FLOW.replace("{origin}", origin)}}.items():
        (tmp_path / folder).mkdir()
        for stem, text in files.items():
            (tmp_path / folder / f"{stem}.yaml").write_text(text)
    return tmp_path


def _run(tmp_path: Path, schemas: SchemaStore) -> Parties:
    project, systems = _project(tmp_path), _systems()
    mappings = load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(project / "flows")
    return Parties(entity_config(flow, mappings, schemas.schemas.named, systems), mappings, systems, schemas)


def _dead_letter(run: Parties, sent: Sent) -> tuple[int, bytes]:
    """The saas sink dead-letters ``sent``; the flow reads it. Returns the dead letter's offset and value."""
    (emitted,) = [e for e in run.run.context.emitted if e.topic == sent.topic and e.value is not None
                  and run.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
    original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                        value=emitted.value, headers=emitted.headers)
    letter = run.schemas.encode(DEAD_LETTER_TYPE, dead_letter_value(
        original, reason="422 email: not an e-mail", error_type="TargetRefused", stage="sink.saas", attempts=1,
        worker="w1", failed_at=ASKED_AT))
    record = run.run.record(DLQ_TOPIC, sent.key.encode(), letter)
    asyncio.run(run.run.feed([record]))
    return record.offset, letter


def _replay(run: Parties, offset: int, letter: bytes) -> list[Sent]:
    """What `isthmus topics dlq replay` writes by default; returns the commands the flow answers with."""
    request = RederiveRequest(flow=run.flow.name, dlq_topic=DLQ_TOPIC, dlq_partition=0, dlq_offset=offset,
                              dead_letter=letter, requested_at=ASKED_AT)
    record = run.run.record(DLQ_TOPIC, CODE.encode(), run.schemas.encode(REDERIVE_TYPE, request.to_avro()),
                            headers=tuple(request.headers()))
    start = len(run.run.context.emitted)
    asyncio.run(run.run.feed([record]))
    assert run.run.context.counts["rederived"] >= 1
    return decode_commands(run.run.context.emitted[start:], run.schemas)


def test_a_create_is_sent_once_and_later_changes_send_updates_of_what_changed(
        tmp_path: Path, schemas: SchemaStore) -> None:
    run = _run(tmp_path, schemas)
    assert run.flow.config.written["saas"].captured is False and run.flow.config.write_only == ("saas",)
    (create,) = run.change("hub", "party", "c", after=_party())
    assert (create.topic, create.route) == ("isthmus.commands.saas", ("Account", "create"))
    assert create.payload == {"account_code": CODE, "name": "Acme", "email": "a@acme.test", "active": True}
    # no echo comes: the next edit is an update of the changed field, not a second create
    (renamed,) = run.change("hub", "party", "u", before=_party(), after=_party(display_name="Acme Ltd"))
    assert (renamed.route, renamed.changed, renamed.payload["name"]) == (("Account", "update"), ("name",),
                                                                        "Acme Ltd")
    # back to the first name: sent, since the system holds what it was last sent
    (back,) = run.change("hub", "party", "u", before=_party(display_name="Acme Ltd"), after=_party())
    assert (back.route, back.changed) == (("Account", "update"), ("name",))
    # an edit of another field sends only that field: nothing stays in flight for ever
    (mail,) = run.change("hub", "party", "u", before=_party(), after=_party(mail="b@acme.test"))
    assert (mail.route, mail.changed) == (("Account", "update"), ("email",))
    assert run.change("hub", "party", "u", before=_party(mail="b@acme.test"), after=_party(mail="b@acme.test")) == []
    (ended,) = run.change("hub", "party", "d", before=_party(mail="b@acme.test"))
    assert (ended.route, ended.changed) == (("Account", "deactivate"), ("active",))


def test_a_replayed_update_is_sent_again_with_the_current_values(tmp_path: Path, schemas: SchemaStore) -> None:
    """The SaaS refused an update; the entity changed since. Isthmus cannot see what the SaaS holds, so the replay
    sends every field it writes there, with today's values."""
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party())
    (refused,) = run.change("hub", "party", "u", before=_party(), after=_party(display_name="Acme Ltd"))
    offset, letter = _dead_letter(run, refused)
    run.change("hub", "party", "u", before=_party(display_name="Acme Ltd"),
               after=_party(display_name="Acme Ltd", mail="b@acme.test"))
    (again,) = _replay(run, offset, letter)
    assert (again.topic, again.route) == ("isthmus.commands.saas", ("Account", "update"))
    assert set(again.changed) == {"name", "email", "active"}
    assert again.payload == {"account_code": CODE, "name": "Acme Ltd", "email": "b@acme.test", "active": True}
    assert again.record["causation"]["parent_command_id"] == refused.record["command_id"]
    assert again.record["idempotency_key"] not in (create.record["idempotency_key"],
                                                   refused.record["idempotency_key"])
    # the flow goes on as before: the next change is an update of what changed
    (phone,) = run.change("hub", "party", "u", before=_party(display_name="Acme Ltd", mail="b@acme.test"),
                          after=_party(display_name="Acme", mail="b@acme.test"))
    assert (phone.route, phone.changed) == (("Account", "update"), ("name",))


def _emitted_by(run: Parties, feed: Callable[[], Any]) -> list[Sent]:
    """The commands the flow emitted while ``feed`` ran."""
    start = len(run.run.context.emitted)
    feed()
    return decode_commands(run.run.context.emitted[start:], run.schemas)


def test_a_refused_create_corrected_since_creates_again_at_once(tmp_path: Path, schemas: SchemaStore) -> None:
    """The SaaS refused the create (so it holds nothing), and an update went on top of it: the record changed
    since, so the flow creates again at once with the data it has now; its replay finds that create on its way;
    later changes are updates."""
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party(mail="not an email"))
    run.change("hub", "party", "u", before=_party(mail="not an email"), after=_party(mail="a@acme.test"))
    dead: list[tuple[int, bytes]] = []
    (again,) = _emitted_by(run, lambda: dead.append(_dead_letter(run, create)))
    assert (again.route, again.payload["email"]) == (("Account", "create"), "a@acme.test")
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    assert _replay(run, *dead[0]) == []
    (renamed,) = run.change("hub", "party", "u", before=_party(), after=_party(display_name="Acme Ltd"))
    assert (renamed.route, renamed.changed) == (("Account", "update"), ("name",))


def test_a_replayed_create_unchanged_since_creates(tmp_path: Path, schemas: SchemaStore) -> None:
    """The SaaS refused the create for a reason of its own: the same data waits for its replay, which creates."""
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party())
    dead: list[tuple[int, bytes]] = []
    assert _emitted_by(run, lambda: dead.append(_dead_letter(run, create))) == []
    (again,) = _replay(run, *dead[0])
    assert (again.route, again.payload["name"]) == (("Account", "create"), "Acme")


def test_a_write_only_system_is_no_origin_and_no_source(tmp_path: Path, schemas: SchemaStore) -> None:
    systems = _systems()
    project = _project(tmp_path, origin="saas")
    mappings = load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(project / "flows")
    with pytest.raises(FlowFileError, match=r"origin: saas is written only \(capture: none\).*fix: origin: a "
                                            r"captured system \(hub\)"):
        entity_config(flow, mappings, schemas.schemas.named, systems)
    reading = RECORD + "  saas_client:\n    system: saas\n    table: client\n    fields: {customer_number: ref}\n"
    (project / "mappings" / "party.yaml").write_text(reading)
    with pytest.raises(MappingError, match=r"party.yaml:\d+: sources.saas_client.system: saas is written only "
                                           r"\(capture: none in systems/saas.yaml\): no change of its tables ever "
                                           r"arrives; fix: read a captured system's table, or the canonical record"):
        load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)


def test_a_field_added_to_its_writes_is_sent_with_each_entitys_next_change(
        tmp_path: Path, schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    """A new user added a child list to a running flow's write-only system (``writes: [..., tags]``): the canonical
    record got it, the API never did, and nothing said so (what such a system holds is what it was sent, and the
    field was never sent: unknown, so never written)."""
    first = tmp_path / "first"
    first.mkdir()
    project, systems = _project(first), _systems()
    (project / "flows" / "saas.yaml").write_text(FLOW.replace("{origin}", "hub").replace(
        "writes: [name, email, active]", "writes: [name, active]"))
    mappings = load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(project / "flows")
    before = Parties(entity_config(flow, mappings, schemas.schemas.named, systems), mappings, systems, schemas)
    (create,) = before.change("hub", "party", "c", after=_party())
    assert "email" not in create.changed and create.route == ("Account", "create")

    later = tmp_path / "later"
    later.mkdir()
    after = _run(later, schemas)  # the flow file now writes email too; its worker restarted over the same state
    after.run.context.memory.update(before.run.context.memory)
    (renamed,) = after.change("hub", "party", "u", before=_party(), after=_party(display_name="Acme Ltd"))
    assert renamed.route == ("Account", "update") and set(renamed.changed) == {"name", "email"}
    assert renamed.payload["email"] == "a@acme.test"
    assert "saas was never sent email of customer_number P-000001" in caplog.text
    # sent once: the next change sends only what changed
    (again,) = after.change("hub", "party", "u", before=_party(display_name="Acme Ltd"), after=_party())
    assert again.changed == ("name",)
