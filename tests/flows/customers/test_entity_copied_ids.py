"""A key changed by hand in one source transaction (a new user's trial: insert the new vendor row, copying every
column, the payables id it holds too; move its contact rows; delete the old row, in the order systems/README.md
advises for foreign keys that cascade): the new row holds the id of the old key's record in the other system, which
the old key's end deactivates. Whatever the order of the statements in the transaction, the new key does not take
that id for its link: it is created in the other system and its own id is linked back into the row, as when the
delete comes first or the key is changed by an update. On the made-up hub/ledger pair of test_entity_block, the
hub's party (primary key ``party_id``, key ``code``) holding the ledger's debtor number in ``ledger_ref``."""

from __future__ import annotations

import pytest
from customer_events import Sent, decode_topic
from support.tx_events import one_transaction
from test_entity_block import HERE, PUBLISHED, Parties, _catalogs, _debtor, _party, _systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.customers.copied import COPIED_COUNT
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings

pytestmark = pytest.mark.unit

OLD, NEW = "P-000001", "P-000077"
PERSON = {"person_id": 7, "given": "Li", "family": "Wei"}


@pytest.fixture
def run(schemas: SchemaStore) -> Parties:
    systems = _systems()
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    return Parties(entity_config(flow, mappings, schemas.schemas.named, systems), mappings, systems, schemas)


def _linked(run: Parties) -> None:
    """Party OLD with a person, created in the ledger as debtor 500, whose number the hub stores."""
    run.change("hub", "party", "c", after=_party())
    run.change("hub", "person_of_party", "c", after={**PERSON, "org_id": 10})
    run.change("ledger", "debtor", "c", after=_debtor())
    assert run.change("hub", "party", "u", before=_party(), after=_party(ledger_ref=500, terms="NET30")) == []


def _routes(sent: list[Sent]) -> list[tuple[str, str, str]]:
    return [(s.key, s.topic.rsplit(".", 1)[1], s.route[1]) for s in sent]


@pytest.mark.parametrize("order", ["insert, move, delete", "insert, edit, move, delete", "delete, insert, move"])
def test_a_key_changed_by_insert_and_delete_in_one_transaction_creates_the_new_key(
        order: str, run: Parties) -> None:
    _linked(run)
    old_row = _party(ledger_ref=500, terms="NET30")
    new_row = {**old_row, "party_id": 11, "code": NEW}  # every column copied, the ledger's number 500 too
    records = {"insert": run.record("hub", "party", "c", after=new_row),
               "edit": run.record("hub", "party", "u", before=new_row, after=new_row),  # a trigger's touch
               "move": run.record("hub", "person_of_party", "u", before={**PERSON, "org_id": 10},
                                  after={**PERSON, "org_id": 11}),
               "delete": run.record("hub", "party", "d", before=old_row)}
    sent = run.feed(*one_transaction([records[step] for step in order.split(", ")]))
    assert sorted(_routes(sent)) == [(OLD, "ledger", "deactivate"), (NEW, "ledger", "create")]
    (create,) = [s for s in sent if s.route[1] == "create"]
    assert create.payload["account_id"] is None and create.payload["account_code"] == "D-000077"
    published = {record["customer_number"]: record for record in decode_topic(run.run.context.emitted, PUBLISHED,
                                                                               run.schemas)}
    assert [c["first_name"] for c in published[NEW]["contacts"]] == ["Li"]
    assert published[OLD]["contacts"] == [], "the person moved off the old party"
    # the ledger makes debtor 501: its number is linked back into the new party's row, which holds 500
    (link,) = run.change("ledger", "debtor", "c", after=_debtor(debtor_no=501, debtor_code="D-000077", party_code=NEW))
    assert (link.key, link.route, link.payload["erp_account_id"]) == (NEW, ("CustomerAccountXref", "update"), 501)
    assert run.change("hub", "party", "u", before=new_row, after={**new_row, "ledger_ref": 501}) == []
    (rename,) = run.change("hub", "party", "u", before={**new_row, "ledger_ref": 501},
                           after={**new_row, "ledger_ref": 501, "display_name": "Acme Ltd"})
    assert (rename.key, rename.route, rename.payload["account_id"]) == (NEW, ("Account", "update"), 501)
    assert run.run.context.counts[COPIED_COUNT] == 1
