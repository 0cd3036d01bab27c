"""A CRM delete deactivates the ERP account, never deletes it."""

from __future__ import annotations

from customer_harness import Harness

NUMBER = "C-400001"


def test_crm_delete_deactivates_the_account(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    (sent,) = harness.feed(systems.crm_delete(NUMBER))
    assert sent.route == ("Account", "deactivate") and sent.changed == ("active",)
    assert sent.payload["crm_customer_number"] == NUMBER and sent.payload["active"] is False
    assert sent.payload["account_id"] == systems.accounts[NUMBER]["account_id"]
    assert harness.canonical(NUMBER)["active"] is False
    harness.settle()
    assert systems.accounts[NUMBER]["active"] == 0 and harness.outbox == []
    assert all(s.record["operation"] in ("create", "update", "deactivate") for s in harness.sent)


def test_after_the_crm_delete_erp_edits_send_nothing_to_the_crm(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    harness.feed(systems.crm_delete(NUMBER))
    harness.settle()
    assert harness.feed(systems.erp_edit(NUMBER, credit_limit="10.00")) == []


def test_delete_while_the_create_is_pending_deactivates_after_it(harness: Harness) -> None:
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Acme"))
    (deactivate,) = harness.feed(systems.crm_delete(NUMBER))
    assert create.route == ("Account", "create") and deactivate.route == ("Account", "deactivate")
    harness.settle()
    assert systems.accounts[NUMBER]["active"] == 0 and harness.outbox == []
    assert [s.route for s in harness.sent] == [("Account", "create"), ("Account", "deactivate")]
