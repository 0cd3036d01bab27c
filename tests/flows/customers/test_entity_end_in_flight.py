"""An entity made again while its end is still on its way to a system: nothing more goes there until the system
reports the end, and what it reports decides (a new user's trial: a debtor deleted and inserted again in the
books, both decided before the desk's answer, after a worker restart or under lag).

The desk's ``deactivate`` deletes the customer. The flow sent ``update`` on top of it, to a customer being deleted:
the desk answered 404 (a dead letter left pending), and the ``create`` came only with the desk's delete. Now the
desk gets nothing until its delete arrives, then ``create``; a system that keeps an ended entity (the reference
ERP deactivates the account) gets its ``update`` once it reports the end."""

from __future__ import annotations

import pytest
from customer_harness import Harness
from debtor_run import DESK_COMMANDS, Debtors, debtor, number

from streams.codecs.avro.single_object import SchemaStore

pytestmark = pytest.mark.unit

CUSTOMER = number(3, 20017)
AT = debtor(3, 20017, "AT", name="Alpen Handel")


def test_a_debtor_made_again_while_the_desk_deletes_its_customer_is_created_once_the_delete_is_seen(
        schemas: SchemaStore) -> None:
    run = Debtors(schemas)
    (create,) = run.feed(run.change("debitoren", "c", after=AT))
    row = run.desk_row(create, 7)
    assert run.feed(run.change("customers", "c", after=row)) == []
    # deleted and inserted again, both decided in one batch before the desk answers
    again = {**AT, "name": "Alpen Handel neu"}
    sent = run.feed(run.change("debitoren", "d", before=AT), run.change("debitoren", "c", after=again))
    assert [(s.topic, s.route) for s in sent] == [(DESK_COMMANDS, ("Customer", "deactivate"))]
    # the desk deletes the customer: it is created there again, with the data of now
    (recreate,) = run.feed(run.change("customers", "d", before=row))
    assert (recreate.route, recreate.key) == (("Customer", "create"), CUSTOMER)
    assert recreate.payload["name"] == "Alpen Handel neu"
    assert run.feed(run.change("customers", "c", after=run.desk_row(recreate, 8))) == []
    assert run.dead_letters == [] and run.published(CUSTOMER)["active"] is True


def test_an_account_made_again_while_the_erp_deactivates_it_is_updated_once_the_erp_reports_it(
        harness: Harness) -> None:
    """The reference ERP keeps a deactivated account (``active`` 0): the update goes once it reports that."""
    number_, systems = "C-430001", harness.systems
    harness.feed(systems.crm_create(number_, name="Acme"))
    harness.settle()
    (deactivate,) = harness.feed(systems.crm_delete(number_))
    assert deactivate.route == ("Account", "deactivate")
    assert [s for s in harness.feed(systems.crm_create(number_, name="Acme Again")) if s.topic.endswith(".erp")] == []
    applied = [s for s in harness.settle() if s.topic.endswith(".erp")]
    assert [(s.route, s.changed) for s in applied] == [(("Account", "deactivate"), ("active",)),
                                                        (("Account", "update"), ("name", "active"))]
    assert systems.accounts[number_]["active"] == 1 and systems.accounts[number_]["name"] == "Acme Again"
    assert harness.dead_letters == [] and harness.canonical(number_)["active"] is True
