"""``owner_wins`` between two systems that both write the field (a new user's trial: an organisation's lifecycle,
owned by the CRM, written by the accounts system too).

On a made-up pair (tests/flows/customers/firms/): firms of a ``ledger`` (MariaDB, whole-second commit times) and
companies of a ``funnel`` CRM (PostgreSQL), born in either; the funnel owns the stage (the record's
``payment_terms``). The ledger's edit of a stage the funnel holds is refused, audited and written back to the
ledger, whether the funnel set that stage itself or holds it because Isthmus wrote it there (the firm was born in
the ledger): the owner's value is the one it holds. A ledger's stage is taken only while the funnel holds none.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent
from made_up_run import MadeUpRun, MadeUpTable
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.customers.state import StateCodec
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.mapping.reconcile import Stamp
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "firms"
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
CODE = "3:ORG0202"
#: The ledger's refusal of the stage ``lead``, which its ENUM does not hold.
LEAD_REFUSED = "(1265, \"Data truncated for column 'stage' at row 1\")"
#: Column -> (SQL type, Connect type) of each table.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "firm": {"code": ("VARCHAR", "string"), "name": ("VARCHAR", "string"), "stage": ("ENUM", "string")},
    "company": {"id": ("BIGINT", "int64"), "code": ("TEXT", "string"), "name": ("TEXT", "string"),
                "stage": ("TEXT", "string")},
}
KEYS = {"firm": ("code",), "company": ("id",)}
SYSTEM_OF = {"firm": "ledger", "company": "funnel"}
ENGINES = {"ledger": Engine.MARIADB, "funnel": Engine.POSTGRESQL}


@functools.cache
def _loaded(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    systems = Systems({name: system(name, engine=engine, writable=True) for name, engine in ENGINES.items()},
                      directory=HERE)
    catalogs = {name: Catalog(system=name, engine=engine.value, namespace=name, tables={
        table: Table(name=table, primary_key=KEYS[table], replica_identity="full" if engine is Engine.POSTGRESQL
                     else None, columns={c: Column(name=c, sql_type=t, nullable=c == "stage")
                                         for c, (t, _) in COLUMNS[table].items()})
        for table, of in SYSTEM_OF.items() if of == name}) for name, engine in ENGINES.items()}
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=catalogs, systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    return mappings, systems, entity_config(flow, mappings, schemas.schemas.named, systems)


class Firms(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the commands the changes caused."""

    def __init__(self, schemas: SchemaStore) -> None:
        mappings, systems, self.config = _loaded(schemas)
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=self.config, clock=lambda: T0),
                         start=T0, published_to="test.canonical.firms")

    def table(self, name: str) -> MadeUpTable:
        system_name = SYSTEM_OF[name]
        return MadeUpTable(system=system_name, columns=COLUMNS[name], key=KEYS[name], engine=ENGINES[system_name],
                           namespace=system_name)


def firm(stage: str, name: str = "Harbour Logistics") -> dict[str, Any]:
    return {"code": CODE, "name": name, "stage": stage}


def company(stage: str | None, name: str = "Harbour Logistics") -> dict[str, Any]:
    return {"id": 41, "code": CODE, "name": name, "stage": stage}


def _stage_update(sent: Sent) -> tuple[str, str, tuple[str, ...], Any]:
    return sent.record["target"], sent.record["operation"], sent.changed, sent.payload.get("payment_terms")


@pytest.fixture
def firms(schemas: SchemaStore) -> Firms:
    return Firms(schemas)


def _born_in_ledger(firms: Firms, stage: str) -> None:
    """The firm made in the ledger, created in the funnel by Isthmus, the funnel's row (its echo) read back."""
    (create,) = firms.feed(firms.change("firm", "c", after=firm(stage)))
    assert _stage_update(create) == ("funnel", "create", (), stage)
    assert firms.feed(firms.change("company", "c", after=company(stage))) == []
    assert firms.conflicts() == []


def test_a_stage_the_ledger_refused_is_no_longer_expected_there(firms: Firms) -> None:
    """``lead`` refused by the ledger's ENUM (dead-lettered) is not what the ledger will hold: the funnel's ``active``
    again sends nothing (the ledger holds it; before, ``lead`` stayed in flight and ``active`` was sent), and the
    ledger's edit of the stage is judged against what it holds: refused, audited and written back."""
    _born_in_ledger(firms, "active")
    (lead,) = firms.feed(firms.change("company", "u", before=company("active"), after=company("lead")))
    firms.dead_letter(lead, LEAD_REFUSED)
    assert firms.feed(firms.change("company", "u", before=company("lead"), after=company("active"))) == []

    sent = firms.feed(firms.change("firm", "u", before=firm("active"), after=firm("prospect")))

    (conflict,) = firms.conflicts()
    assert (conflict["field"], conflict["winner"], conflict["rule"]) == ("payment_terms", "funnel", "owner")
    assert [_stage_update(s) for s in sent] == [("ledger", "update", ("payment_terms",), "active")]
    assert firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("active"))) == []
    assert len(firms.conflicts()) == 1 and firms.dead_letters == []


def test_a_ledger_edit_of_the_funnels_stage_is_written_back_after_a_stage_the_ledger_refused(firms: Firms) -> None:
    """The funnel set the stage itself: ``lead`` (which the ledger's ENUM refuses: dead-lettered once ``active`` was
    sent), then ``active`` (which the ledger held already, so applying it changed no row and sent no echo). The
    ledger's edit to ``prospect`` is refused and audited; the funnel's ``active`` must be written back to the ledger
    (it was not: both in-flight values stayed the ledger's expectation for ever)."""
    _born_in_ledger(firms, "active")
    (lead,) = firms.feed(firms.change("company", "u", before=company("active"), after=company("lead")))
    assert _stage_update(lead) == ("ledger", "update", ("payment_terms",), "lead")
    (active,) = firms.feed(firms.change("company", "u", before=company("lead"), after=company("active")))
    assert _stage_update(active) == ("ledger", "update", ("payment_terms",), "active")
    firms.dead_letter(lead, LEAD_REFUSED)
    # the ledger applies `active`: it held it already, so no row changed and no echo comes

    sent = firms.feed(firms.change("firm", "u", before=firm("active"), after=firm("prospect")))

    (conflict,) = firms.conflicts()
    assert (conflict["field"], conflict["winner"], conflict["owner"], conflict["rule"]) == (
        "payment_terms", "funnel", "funnel", "owner")
    assert [_stage_update(s) for s in sent] == [("ledger", "update", ("payment_terms",), "active")]
    assert firms.published(CODE)["payment_terms"] == "active"
    # the write-back's echo settles it: nothing more is sent, nothing more audited
    assert firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("active"))) == []
    assert len(firms.conflicts()) == 1 and firms.dead_letters == []


def test_a_ledger_edit_made_over_another_stage_is_refused_and_left_to_the_command_in_flight(firms: Firms) -> None:
    """The ledger's edit was made over its old stage, before the funnel's new one (in flight to it) was applied
    there: that command writes the funnel's stage over the edit, so nothing is sent twice."""
    _born_in_ledger(firms, "active")
    (churned,) = firms.feed(firms.change("company", "u", before=company("active"), after=company("churned")))
    assert _stage_update(churned) == ("ledger", "update", ("payment_terms",), "churned")

    assert firms.feed(firms.change("firm", "u", before=firm("active"), after=firm("prospect"))) == []

    (conflict,) = firms.conflicts()
    assert (conflict["field"], conflict["winner"]) == ("payment_terms", "funnel")
    assert firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("churned"))) == []
    assert len(firms.conflicts()) == 1


def test_a_ledger_edit_of_the_stage_isthmus_created_the_funnel_with_is_refused_and_written_back(firms: Firms) -> None:
    """The firm was born in the ledger: the funnel holds its stage because Isthmus's create wrote it there, and the
    funnel's row (the create's echo) confirmed it. That stage is the funnel's now: the ledger's later edit is
    refused, audited and written back, as if the funnel had set it itself."""
    _born_in_ledger(firms, "prospect")
    assert firms.published(CODE)["provenance"]["payment_terms"]["system"] == "funnel"

    sent = firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("churned")))

    (conflict,) = firms.conflicts()
    assert (conflict["field"], conflict["winner"], conflict["owner"], conflict["rule"]) == (
        "payment_terms", "funnel", "funnel", "owner")
    assert conflict["values"] == {"funnel": '"prospect"', "ledger": '"churned"'}
    assert [_stage_update(s) for s in sent] == [("ledger", "update", ("payment_terms",), "prospect")]
    assert firms.published(CODE)["payment_terms"] == "prospect"


def test_the_ledgers_stage_is_provisional_while_the_funnel_holds_none(firms: Firms) -> None:
    """Born in the ledger, the firm is being created in the funnel, whose row is not there yet: the funnel holds no
    stage, so the ledger's new one is taken (provisionally: no conflict) and sent on top of the create. The funnel's
    row, made by the create, shows the create's stage: not the record's, so the funnel holds no value of it yet.
    Once its row shows the update's stage (its echo), the funnel holds it, and the ledger's next edit is refused."""
    (create,) = firms.feed(firms.change("firm", "c", after=firm("prospect")))
    assert _stage_update(create) == ("funnel", "create", (), "prospect")
    (taken,) = firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("active")))
    assert _stage_update(taken) == ("funnel", "update", ("payment_terms",), "active") and firms.conflicts() == []
    assert firms.feed(firms.change("company", "c", after=company("prospect"))) == []
    assert firms.published(CODE)["provenance"]["payment_terms"]["system"] == "ledger"
    assert firms.feed(firms.change("company", "u", before=company("prospect"), after=company("active"))) == []
    assert firms.published(CODE)["provenance"]["payment_terms"]["system"] == "funnel"

    (back,) = firms.feed(firms.change("firm", "u", before=firm("active"), after=firm("churned")))
    assert _stage_update(back) == ("ledger", "update", ("payment_terms",), "active")
    assert [c["winner"] for c in firms.conflicts()] == ["funnel"]


def test_a_state_stored_before_takes_the_funnels_stage_with_a_snapshot_of_the_funnel(firms: Firms) -> None:
    """A firm whose echo was read before the funnel counted as holding what Isthmus wrote keeps the ledger's stamp;
    a snapshot of the funnel's table (what the docs tell such a user to run) makes the stage the funnel's."""
    _born_in_ledger(firms, "prospect")
    store = firms.run.context.memory["entities"]
    codec = StateCodec(firms.config)
    raw = store.get_raw(CODE)
    assert raw is not None
    state = codec.decode(CODE, raw)
    state.provenance["payment_terms"] = Stamp(system="ledger", commit_time=T0 + dt.timedelta(seconds=1))
    store.put_raw(CODE, codec.encode(CODE, state))

    assert firms.feed(firms.change("company", "r", after=company("prospect"))) == []

    (back,) = firms.feed(firms.change("firm", "u", before=firm("prospect"), after=firm("churned")))
    assert _stage_update(back) == ("ledger", "update", ("payment_terms",), "prospect")
    assert [c["winner"] for c in firms.conflicts()] == ["funnel"]
