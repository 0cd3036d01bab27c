"""A customer renumbered in the CRM (its ``customer_number`` changed on the same row) ends under the old number
and is created under the new one, as the flow file promises. The row still holds the ERP id of the old
customer's account (``erp_account_id``, which ``observes`` reads): that id is the old key's, and the new key's
customer must not take it for its own link, or it is never created in the ERP (a new user's trial found the
renumbered customer linked to the deactivated account, its later edits and orders going nowhere)."""

from __future__ import annotations

import pytest
from customer_harness import Harness
from new_key import settled_under_the_new_key

pytestmark = pytest.mark.unit

OLD, NEW = "C-480001", "C-480099"


def test_a_renumbered_customer_ends_under_the_old_number_and_is_created_and_linked_under_the_new(
        harness: Harness) -> None:
    crm = harness.systems
    harness.feed(crm.crm_create(OLD, name="Acme", email="a@acme.test"))
    harness.settle()
    old_account = crm.customers[OLD]["erp_account_id"]
    assert old_account is not None
    sent = harness.feed(crm.crm_edit(OLD, customer_number=NEW))
    crm.customers[NEW] = crm.customers.pop(OLD)  # the made-up CRM keeps its rows by number
    settled_under_the_new_key(harness, sent, old_account, old=OLD, new=NEW)


def test_a_customer_renumbered_onto_a_number_that_ended_before_lives_again(harness: Harness) -> None:
    """Renumbered back (or onto a deleted customer's number): the key's entity had ended, its account was
    deactivated; the row that now has the key makes it live, as a new row under it does."""
    crm = harness.systems
    harness.feed(crm.crm_create(OLD, name="Acme", email="a@acme.test"))
    harness.settle()
    harness.feed(crm.crm_edit(OLD, customer_number=NEW))
    crm.customers[NEW] = crm.customers.pop(OLD)
    harness.settle()
    assert crm.accounts[OLD]["active"] == 0
    back = harness.feed(crm.crm_edit(NEW, customer_number=OLD))
    crm.customers[OLD] = crm.customers.pop(NEW)
    assert (OLD, ("Account", "update"), ("active",)) in [(s.key, s.route, s.changed) for s in back]
    assert (NEW, ("Account", "deactivate")) in [(s.key, s.route) for s in back]
    harness.settle()
    assert crm.accounts[OLD]["active"] == 1 and crm.accounts[NEW]["active"] == 0
