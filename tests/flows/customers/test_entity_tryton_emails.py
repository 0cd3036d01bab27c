"""The Tryton example's rule "a party with several e-mails shows the one changed last" (examples/tryton/README.md),
run without Tryton: the example's own systems, mappings and flow files, its change events made up and fed through
the flow's real handler. Tryton keeps e-mails as contact mechanisms, rows found through their party's id
(``tryton_emails``, ``when: "type == 'email' and coalesce(active, True)"``, ``on_delete: {set: {email: null}}``).
The e-mail shown is that of the mechanism changed last; deleting or archiving it shows the remaining one changed
last, and only when none is left is the CRM's e-mail cleared."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import Columns, change_record

from streams.catalog.columns_file import read_all
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings
from streams.stack.settings import PROJECT_ROOT
from streams.systems import Engine, load_systems

pytestmark = pytest.mark.unit

EXAMPLE = PROJECT_ROOT / "examples" / "tryton"
T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
NUMBER = "C-802001"
PARTY = 55
#: The columns the example's mappings read, with their Connect types, per (system, table).
COLUMNS: dict[tuple[str, str], Columns] = {
    ("refcrm", "customers"): {"id": ("int64", None), "customer_number": ("string", None), "name": ("string", None),
                              "email": ("string", None), "phone": ("string", None)},
    ("tryton", "party_party"): {"id": ("int32", None), "code": ("string", None), "name": ("string", None),
                                "active": ("boolean", None)},
    ("tryton", "party_contact_mechanism"): {"id": ("int32", None), "party": ("int32", None),
                                            "type": ("string", None), "value": ("string", None),
                                            "active": ("boolean", None)},
}
NAMESPACES = {"refcrm": "crm", "tryton": "public"}


class TrytonRun:
    """The example's flow under LocalRun; :meth:`change` feeds one change event, each in a transaction of its own."""

    def __init__(self, schemas: SchemaStore) -> None:
        self.systems = load_systems(EXAMPLE / "systems", env={})
        mappings = load_mappings(EXAMPLE / "mappings", schemas=schemas.schemas,
                                 tables=read_all(EXAMPLE / "systems"), systems=self.systems)
        (flow,) = load_flow_files(EXAMPLE / "flows")
        config = entity_config(flow, mappings, schemas.schemas.named, self.systems)
        self.flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=self.systems, config=config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.schemas = schemas
        self.now = T0
        self.position = 1000
        self.mechanisms: dict[int, dict[str, Any]] = {}

    def change(self, system: str, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> list[Sent]:
        """Feed one change; returns the commands it caused."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        key, value = change_record(system, table, op, columns=COLUMNS[(system, table)], key="id",
                                   engine=Engine.POSTGRESQL, namespace=NAMESPACES[system], at=self.now,
                                   position=self.position, before=before, after=after)
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(self.systems[system].topic(table), key, value)]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def mechanism(self, mechanism_id: int, **values: Any) -> list[Sent]:
        """Create or change an e-mail mechanism of the party (replica identity FULL: with its before-image)."""
        before = self.mechanisms.get(mechanism_id)
        after = {**(before or {"id": mechanism_id, "party": PARTY, "type": "email", "active": True}), **values}
        self.mechanisms[mechanism_id] = after
        return self.change("tryton", "party_contact_mechanism", "c" if before is None else "u", before=before,
                           after=after)

    def delete_mechanism(self, mechanism_id: int) -> list[Sent]:
        return self.change("tryton", "party_contact_mechanism", "d", before=self.mechanisms.pop(mechanism_id))

    def email(self) -> Any:
        published = decode_topic(self.run.context.emitted, self.flow.canonical_topic, self.schemas)
        return published[-1]["email"]


def _crm_emails(sent: list[Sent]) -> list[str | None]:
    """The e-mails the CRM was sent, in order."""
    return [s.payload["email"] for s in sent if s.topic == "isthmus.commands.refcrm" and "email" in s.changed]


@pytest.fixture
def tryton(schemas: SchemaStore) -> TrytonRun:
    run = TrytonRun(schemas)
    run.change("refcrm", "customers", "c", after={"id": 9, "customer_number": NUMBER, "name": "Acme"})
    run.change("tryton", "party_party", "c", after={"id": PARTY, "code": NUMBER, "name": "Acme", "active": True})
    return run


def test_the_e_mail_changed_last_is_shown_and_deleting_it_shows_the_other(tryton: TrytonRun) -> None:
    assert _crm_emails(tryton.mechanism(1, value="first@acme.test")) == ["first@acme.test"]
    assert _crm_emails(tryton.mechanism(2, value="second@acme.test")) == ["second@acme.test"]
    assert _crm_emails(tryton.mechanism(1, value="first@acme.example")) == ["first@acme.example"], "changed last"
    assert _crm_emails(tryton.delete_mechanism(1)) == ["second@acme.test"], "the other one, not null"
    assert tryton.email() == "second@acme.test"


def test_archiving_the_e_mail_shown_shows_the_other_and_the_last_one_gone_clears_it(tryton: TrytonRun) -> None:
    tryton.mechanism(1, value="first@acme.test")
    tryton.mechanism(2, value="second@acme.test")
    assert _crm_emails(tryton.mechanism(1, active=False)) == [], "an e-mail not shown archived changes nothing"
    assert tryton.email() == "second@acme.test"
    assert _crm_emails(tryton.delete_mechanism(1)) == []
    tryton.mechanism(3, value="third@acme.test")
    assert _crm_emails(tryton.mechanism(3, active=False)) == ["second@acme.test"]
    assert _crm_emails(tryton.delete_mechanism(2)) == [None], "no e-mail left: on_delete"
    assert tryton.email() is None
