"""What a customer whose key changed (renumbered by an update, or a primary key changed as a delete and a create)
must end as: the old key's account deactivated, the new key's created and linked back, its edits reaching it."""

from __future__ import annotations

from typing import Any

from customer_events import Sent
from customer_harness import Harness


def settled_under_the_new_key(harness: Harness, sent: list[Sent], old_account: Any, *, old: str, new: str) -> None:
    crm = harness.systems
    assert [(s.key, s.route) for s in sent] == [(old, ("Account", "deactivate")), (new, ("Account", "create"))]
    assert not [s for s in sent if s.key == new and s.payload.get("account_id") == old_account], (
        "nothing for the new key is addressed to the old key's account")
    applied = harness.settle()
    assert [(s.key, s.route) for s in applied[2:]] == [(new, ("CustomerAccountXref", "update"))]
    new_account = crm.accounts[new]["account_id"]
    assert new_account != old_account and crm.accounts[old]["active"] == 0 and crm.accounts[new]["active"] == 1
    assert crm.customers[new]["erp_account_id"] == new_account, "the CRM row linked to the new account"
    # the customer's later edits reach its new account
    (update,) = harness.feed(crm.crm_edit(new, name="Acme Ltd"))
    assert (update.key, update.route, update.changed) == (new, ("Account", "update"), ("name",))
    assert update.payload["account_id"] == new_account
    assert harness.dead_letters == []
