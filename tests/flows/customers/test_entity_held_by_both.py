"""Members both origins held before the first sync (a new user's trial: a web shop and a legacy ERP, 1,000 customers in
each; tests/flows/customers/members/ made up over it, the numbers normalised differently: '4711' and '00004711').

The flow reads one system's row first and sends ``create`` to the other; the other's own row, read next (a snapshot
read, or an insert committed before the first row), was taken for that create's echo: the record kept the first
system's values of the fields the other owns, as its own, no conflict was audited, and nothing was sent either
way; the create's 409 was dead-lettered, and its replay wrote the first system's values over the owner's. That row
is the system's own now: it links the member, each owner's fields come from its owner, each system gets an
``update`` of what the other won, and the dead letter of the create the row settled is settled by the flow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig
from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.mapping import RecordMapping
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "members"
T0 = dt.datetime(2026, 12, 7, 15, 35, tzinfo=dt.UTC)
TABLES = {
    "member": MadeUpTable(system="portal", engine=Engine.POSTGRESQL, namespace="portal", key=("member_id",), columns={
        "member_id": ("BIGINT", "int64"), "member_no": ("TEXT", "string"), "full_name": ("TEXT", "string"),
        "email": ("TEXT", "string"), "phone": ("TEXT", "string"), "rebate": ("NUMERIC", "bytes"),
        "blocked": ("BOOLEAN", "boolean")}, decimals={"rebate": 2}),
    "account": MadeUpTable(system="dues", engine=Engine.MARIADB, namespace="dues", key=("kdnr",), columns={
        "kdnr": ("CHAR", "string"), "name": ("VARCHAR", "string"), "email": ("VARCHAR", "string"),
        "tel": ("VARCHAR", "string"), "rabatt": ("DECIMAL", "bytes"), "gesperrt": ("CHAR", "string")},
        decimals={"rabatt": 2}),
}
TABLE = {"portal": "member", "dues": "account"}
#: Each system's own row of member 4711, as it held it before the first sync: portal owns the name and the contact
#: fields, dues the rebate and the block.
ROWS: dict[str, dict[str, Any]] = {
    "portal": {"member_id": 7, "member_no": "4711", "full_name": "François Öztürk", "email": "fo@portal.example",
               "phone": "+49 30 4711", "rebate": Decimal("1.00"), "blocked": False},
    "dues": {"kdnr": "00004711", "name": "Özlem Schäfer", "email": "kunde4711@DUES.example", "tel": None,
             "rabatt": Decimal("12.50"), "gesperrt": "J"},
}
PORTAL_OWNS = {"name": "François Öztürk", "email": "fo@portal.example", "phone": "+49 30 4711"}
DUES_OWNS = {"credit_limit": "12.50", "blocked": True}


@functools.cache
def _loaded(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    return made_up_flow(schemas, HERE, TABLES, required=("member_no", "full_name", "name"))


class Members(MadeUpRun):
    """The flow under LocalRun, with each system's row of member 4711 at hand (:meth:`row`)."""

    def __init__(self, schemas: SchemaStore) -> None:
        mappings, systems, config = _loaded(schemas)
        flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems, config=config, clock=lambda: self.now)
        super().__init__(schemas, systems, flow, start=T0, published_to="test.canonical.members", tables=TABLES)

    def row(self, system: str, op: str, **changed: Any) -> tuple[str, bytes, bytes]:
        before = ROWS[system] if op == "u" else None
        return self.change(TABLE[system], op, before=before, after={**ROWS[system], **changed})

    def refused(self, sent: Sent, reason: str) -> tuple[int, bytes, list[Sent]]:
        """The sink's dead letter of ``sent`` fed to the flow: its offset, its value, the commands it caused."""
        (emitted,) = [e for e in self.run.context.emitted if e.topic == sent.topic and e.value is not None
                      and self.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
        original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                            value=emitted.value, headers=emitted.headers)
        letter = self.schemas.encode(DEAD_LETTER_TYPE, dead_letter_value(
            original, reason=reason, error_type="Refused", stage=f"sink.{sent.record['target']}", attempts=1,
            worker="w1", failed_at=self.now))
        record = self.run.record(DLQ_TOPIC, emitted.key, letter)
        return record.offset, letter, self._fed(record)

    def replay(self, offset: int, letter: bytes) -> list[Sent]:
        """What `isthmus topics dlq replay` writes for the dead letter at ``offset`` (re-derive); the commands."""
        request = RederiveRequest(flow="test-members", dlq_topic=DLQ_TOPIC, dlq_partition=0, dlq_offset=offset,
                                  dead_letter=letter, requested_at=self.now)
        return self._fed(self.run.record(DLQ_TOPIC, b"4711", self.schemas.encode(REDERIVE_TYPE, request.to_avro()),
                                         headers=tuple(request.headers())))

    def _fed(self, record: Any) -> list[Sent]:
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([record]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def notes(self) -> list[dict[str, Any]]:
        return [dict(self.schemas.decode(e.value).value) for e in self.run.context.emitted
                if e.topic == DLQ_TOPIC and e.value is not None]


def _routes(sent: list[Sent]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.record["target"], s.record["operation"], s.changed) for s in sent]


def _met(run: Members, first: str, op: str) -> tuple[str, Sent, list[Sent]]:
    """Both rows were there before the flow ran (the other's committed first when they are inserts); the flow reads
    ``first``'s row, then the other's. Returns the other system, the create sent to it, and what its row sent."""
    other = "dues" if first == "portal" else "portal"
    own = run.row(other, op)
    (create,) = run.feed(run.row(first, op))
    assert _routes([create]) == [(other, "create", ())]
    return other, create, run.feed(own)


@pytest.mark.parametrize("op", ["r", "c"])
@pytest.mark.parametrize("first", ["portal", "dues"])
def test_the_row_a_create_met_links_the_member_and_each_owner_keeps_its_fields(
        schemas: SchemaStore, first: str, op: str) -> None:
    run = Members(schemas)
    other, create, sent = _met(run, first, op)
    # no create back; each system gets what the other owns where they differ
    assert _routes(sent) == [("portal", "update", ("credit_limit", "blocked")),
                             ("dues", "update", ("name", "email", "phone"))]
    portal, dues = sent
    assert {f: portal.payload[f] for f in DUES_OWNS} == DUES_OWNS
    assert {f: dues.payload[f] for f in PORTAL_OWNS} == PORTAL_OWNS
    published = run.published("4711")
    assert {f: published[f] for f in PORTAL_OWNS} == PORTAL_OWNS
    assert (published["credit_limit"], published["blocked"]) == (Decimal("12.50"), True)
    assert (published["crm_customer_id"], published["account_code"]) == (7, "00004711")
    stamps = published["provenance"]
    assert {f: stamps[f]["system"] for f in (*PORTAL_OWNS, *DUES_OWNS)} == {
        **dict.fromkeys(PORTAL_OWNS, "portal"), **dict.fromkeys(DUES_OWNS, "dues")}
    # what the other system's row held otherwise of the first one's fields lost, audited (its null phone is no edit)
    conflicts = run.conflicts()
    assert sorted(c["field"] for c in conflicts) == (["email", "name"] if other == "dues" else
                                                    ["blocked", "credit_limit"])
    assert {(c["winner"], c["rule"]) for c in conflicts} == {(first, "owner")}

    # the create's 409: settled by the flow, nothing sent
    offset, letter, after = run.refused(create, f"{other.upper()} answered 409 to the create: duplicate key 4711")
    assert after == []
    (note,) = run.notes()
    assert note["way"] == "settled" and "its own row there linked the entity" in note["replayed_to"]
    # each update's echo: nothing more, either way
    assert run.feed(run.row("portal", "u", rebate=Decimal("12.50"), blocked=True)) == []
    assert run.feed(run.row("dues", "u", name=PORTAL_OWNS["name"], email=PORTAL_OWNS["email"],
                            tel=PORTAL_OWNS["phone"])) == []
    # a replay of the dead letter sends nothing: the system holds every current value
    assert run.replay(offset, letter) == []
    assert run.published("4711") == published


def test_a_replay_before_the_echoes_never_sends_the_other_systems_values_of_owned_fields(
        schemas: SchemaStore) -> None:
    run = Members(schemas)
    _, create, _ = _met(run, "dues", "r")
    offset, letter, _ = run.refused(create, "PORTAL answered 409 to the create: duplicate key 4711")
    for sent in run.replay(offset, letter):
        assert sent.record["target"] == "portal"
        assert not set(sent.changed) & set(PORTAL_OWNS), sent.changed
        assert {f: sent.payload[f] for f in PORTAL_OWNS} == PORTAL_OWNS


def test_a_target_that_writes_the_create_over_the_row_gets_the_owners_values_back(schemas: SchemaStore) -> None:
    """A target with an external id finds the row and writes the create's values over it (the fields dues owns
    among them, as portal had them): its echo is no edit of dues', so dues gets its own values back."""
    run = Members(schemas)
    _met(run, "portal", "c")
    overwritten = run.row("dues", "u", name=PORTAL_OWNS["name"], email=PORTAL_OWNS["email"],
                          tel=PORTAL_OWNS["phone"], rabatt=Decimal("1.00"), gesperrt="N")
    (back,) = run.feed(overwritten)
    assert _routes([back]) == [("dues", "update", ("credit_limit", "blocked"))]
    assert {f: back.payload[f] for f in DUES_OWNS} == DUES_OWNS
    assert (run.published("4711")["credit_limit"], run.published("4711")["blocked"]) == (Decimal("12.50"), True)


@pytest.mark.parametrize("first", ["portal", "dues"])
def test_the_409_read_before_the_row_it_met_comes_to_the_same(schemas: SchemaStore, first: str) -> None:
    """The other system's topic is read late: the create's 409 comes first (the creation is forgotten), then the
    row it met, which links the member as any first row of it does."""
    run = Members(schemas)
    other = "dues" if first == "portal" else "portal"
    own = run.row(other, "r")
    (create,) = run.feed(run.row(first, "r"))
    assert run.refused(create, "409 duplicate key 4711")[2] == []
    sent = run.feed(own)
    assert _routes(sent) == [("portal", "update", ("credit_limit", "blocked")),
                             ("dues", "update", ("name", "email", "phone"))]
    published = run.published("4711")
    assert {f: published[f] for f in PORTAL_OWNS} == PORTAL_OWNS
    assert (published["credit_limit"], published["blocked"]) == (Decimal("12.50"), True)
