"""The end of a row that is not its entity's row ends nothing (a new user's trial: tests/flows/customers/debtors/).

The debtors' primary key is (mandant, debitor_nr, region), the customer number is made of (mandant, debitor_nr):
a second region's row of a debtor is refused (``MergedRows``: "... or end one of the rows"). The user then deleted
the refused row, as told, and the flow sent ``deactivate``: the desk deleted the customer of the row that lives,
its own phone with it, and the books' mirror was reset, so nothing made it again until that row changed. The
delete of a row that is not the entity's (its create refused as a second row on the key), its update moving it
off the key, and a row moved onto a key another row holds, change nothing of the entity of the row that lives."""

from __future__ import annotations

import pytest
from debtor_run import DESK_COMMANDS, Debtors, debtor, number

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers.missed import MISSED
from streams.flows.customers.state import CustomerState

pytestmark = pytest.mark.unit

CUSTOMER = number(3, 20017)
AT = debtor(3, 20017, "AT", name="Alpen Handel")
DE = debtor(3, 20017, "DE", name="Alpen Handel Deutschland")
#: The rows of the books that map to the customer, as the flow records them.
ROWS = ['debitoren:{"debitor_nr": 20017, "mandant": 3, "region": "AT"}']


def _linked(run: Debtors) -> None:
    """The AT row's customer made in the desk, and the desk user's phone on it (the desk's own data)."""
    (create,) = run.feed(run.change("debitoren", "c", after=AT))
    assert (create.topic, create.route, create.key) == (DESK_COMMANDS, ("Customer", "create"), CUSTOMER)
    row = run.desk_row(create, 7)
    assert run.feed(run.change("customers", "c", after=row)) == []
    assert run.feed(run.change("customers", "u", before=row, after={**row, "phone": "+43 1 5550"})) == []
    assert run.published(CUSTOMER)["phone"] == "+43 1 5550"


def _refused_second_row(run: Debtors) -> None:
    assert run.feed(run.change("debitoren", "c", after=DE)) == []
    (letter,) = run.dead_letters
    assert (f'rows debitoren:{{"debitor_nr": 20017, "mandant": 3, "region": "AT"}} and '
            f'debitoren:{{"debitor_nr": 20017, "mandant": 3, "region": "DE"}} of books.debitoren both map to '
            f"customer_number '{CUSTOMER}'") in letter.reason and "end one of the rows" in letter.reason


def _stored(run: Debtors) -> CustomerState:
    return run.flow._codec.decode(CUSTOMER, run.run.context.memory["entities"].get_raw(CUSTOMER))


def _stored_rows(run: Debtors) -> list[str]:
    return _stored(run).rows["books.debitoren"]


def test_deleting_the_refused_second_row_leaves_the_live_rows_customer_as_it_was(schemas: SchemaStore) -> None:
    run = Debtors(schemas)
    _linked(run)
    _refused_second_row(run)
    published = run.published(CUSTOMER)
    assert run.run.context.memory[MISSED].get_raw("count") is not None, "the refused row is marked (its letter)"
    # the user ends the refused row, as the dead letter told: no deactivate, the customer and its phone stay
    assert run.feed(run.change("debitoren", "d", before=DE)) == []
    assert run.dead_letters[1:] == []
    assert run.published(CUSTOMER) == published and published["active"] is True
    assert _stored_rows(run) == ROWS
    assert run.run.context.memory[MISSED].get_raw("count") is None, "nothing is remembered of the refused row"
    # nor did the link lose the books' row: the customer is still there (else the desk's own delete of it would
    # not make it again until the AT row changed)
    state = _stored(run)
    assert state.xref["account_code"] == "3/20017" and state.mirror("books").present
    # the customer is still linked in the desk: the AT row's next change is an update, not a create
    (update,) = run.feed(run.change("debitoren", "u", before=AT, after={**AT, "name": "Alpen Handel AG"}))
    assert (update.route, update.changed, update.payload["name"]) == (("Customer", "update"), ("name",),
                                                                      "Alpen Handel AG")
    assert run.published(CUSTOMER)["phone"] == "+43 1 5550"


def test_an_update_of_the_refused_row_is_refused_again_and_its_delete_still_ends_nothing(
        schemas: SchemaStore) -> None:
    run = Debtors(schemas)
    _linked(run)
    _refused_second_row(run)
    assert run.feed(run.change("debitoren", "u", before=DE, after={**DE, "mail": "de@alpen.test"})) == []
    assert len(run.dead_letters) == 2 and "both map to" in run.dead_letters[1].reason
    assert run.published(CUSTOMER)["email"] == "office@alpen.test"
    assert run.feed(run.change("debitoren", "d", before={**DE, "mail": "de@alpen.test"})) == []
    assert len(run.dead_letters) == 2 and run.published(CUSTOMER)["active"] is True
    assert _stored_rows(run) == ROWS


def test_the_refused_row_moved_off_the_key_makes_its_own_customer_and_ends_nothing(schemas: SchemaStore) -> None:
    """An update of a primary key column reaches Debezium's topic as a delete of the old key and a create."""
    run = Debtors(schemas)
    _linked(run)
    _refused_second_row(run)
    moved = {**DE, "debitor_nr": 20018}
    sent = run.feed(run.change("debitoren", "d", before=DE), run.change("debitoren", "c", after=moved))
    assert [(s.route, s.key) for s in sent] == [(("Customer", "create"), number(3, 20018))]
    assert len(run.dead_letters) == 1
    assert run.published(CUSTOMER)["active"] is True and run.published(CUSTOMER)["phone"] == "+43 1 5550"


def test_a_row_moved_onto_a_key_another_row_holds_is_refused_and_its_delete_ends_nothing(
        schemas: SchemaStore) -> None:
    run = Debtors(schemas)
    _linked(run)
    other = debtor(3, 20018, "CH", name="Alpen Schweiz")
    (create,) = run.feed(run.change("debitoren", "c", after=other))
    assert create.key == number(3, 20018)
    # moved onto the AT row's key: its old key's customer ends (it had no other row), the new key is refused
    onto = {**other, "debitor_nr": 20017}
    (end,) = run.feed(run.change("debitoren", "d", before=other))
    assert (end.route, end.key) == (("Customer", "deactivate"), number(3, 20018))
    assert run.feed(run.change("debitoren", "c", after=onto)) == []
    assert "both map to" in run.dead_letters[-1].reason
    assert run.feed(run.change("debitoren", "d", before=onto)) == []
    assert run.published(CUSTOMER)["active"] is True and _stored_rows(run) == ROWS


def test_a_key_only_delete_of_a_refused_row_never_remembered_clears_its_mark(schemas: SchemaStore) -> None:
    """Debtors keyed by an id, with the default replica identity: the flow remembers their rows, and the refused
    row's was never remembered (its change was undone), so its delete, carrying the id only, names no customer."""
    run = Debtors(schemas, surrogate=True)
    (create,) = run.feed(run.change("debitoren", "c", after={**AT, "id": 1}))
    assert create.key == CUSTOMER
    assert run.feed(run.change("debitoren", "c", after={**DE, "id": 2})) == []
    assert "both map to" in run.dead_letters[0].reason
    assert run.run.context.memory[MISSED].get_raw("count") is not None
    assert run.feed(run.change("debitoren", "d", before={"id": 2})) == []
    assert run.run.context.memory[MISSED].get_raw("count") is None, "no mark left for each change to look up"
    assert run.published(CUSTOMER)["active"] is True and len(run.dead_letters) == 1
