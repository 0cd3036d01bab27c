"""A primary key update in the origin (a new user's trial: ``UPDATE people SET seq = 1000 WHERE org_id = … AND
seq = 12``) is no update in Debezium's stream: the connector sends a delete of the old key and a create of the new
one, in the same source transaction, the create carrying the ``__debezium.oldkey`` header (the delete
``__debezium.newkey``). The new row is a copy of the old one, so it still holds the ids of the old key's records
in the other systems (the CRM's ``erp_account_id``, which ``observes`` reads). The old key's entity ends; the new
key's must not take the old one's account for its own link, or it is never created in the ERP and nothing it
does reaches it: it is created there, and its new account's id linked back into the row, as for a key changed
by an update (test_entity_renumbered)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from customer_events import decode_commands
from customer_harness import Harness
from new_key import settled_under_the_new_key
from support.tx_events import one_transaction, with_ends

from reference.topics import CRM_CUSTOMERS

pytestmark = pytest.mark.unit

OLD, NEW = "C-490001", "C-490077"
Rec = tuple[str, bytes, bytes]


def _rekeyed(harness: Harness, old: str, new: str, row_id: int) -> tuple[Rec, Rec]:
    """``UPDATE customers SET id = row_id, customer_number = new WHERE customer_number = old``, as Debezium sends
    a primary key change: the old row deleted, the new one created, a copy of it (its ``erp_account_id`` too)."""
    crm = harness.systems
    before = crm.customers.pop(old)
    after = {**before, "id": row_id, "customer_number": new, "version": before["version"] + 1}
    crm.customers[new] = after
    deleted = crm.cdc.record(CRM_CUSTOMERS, "d", before=before, after=None, at=crm.cdc.tick(0.001))
    return deleted, crm.cdc.record(CRM_CUSTOMERS, "c", before=None, after=after, at=crm.cdc.now)


def _old_key(record: Rec) -> tuple[tuple[str, bytes], ...]:
    """The ``__debezium.oldkey`` header Debezium puts on the create of a primary key change: the old key."""
    return (("__debezium.oldkey", json.dumps(json.loads(record[1])["payload"]).encode()),)


def _linked_customer(harness: Harness) -> Any:
    crm = harness.systems
    harness.feed(crm.crm_create(OLD, name="Acme", email="a@acme.test"))
    harness.settle()
    old_account = crm.customers[OLD]["erp_account_id"]
    assert old_account is not None
    return old_account


def test_a_primary_key_change_in_one_transaction_creates_the_new_key_and_links_its_new_account(
        harness: Harness) -> None:
    """The delete, its tombstone and the create, the two changes in one source transaction and folded together:
    the old key's account, which the entity that ended in it had, is not the new key's."""
    old_account = _linked_customer(harness)
    deleted, created = _rekeyed(harness, OLD, NEW, 990)
    removed, made, end = one_transaction([deleted, created])
    sent = harness.feed_exactly(removed, (removed[0], removed[1], None), made, end)
    settled_under_the_new_key(harness, sent, old_account, old=OLD, new=NEW)


def test_a_create_with_the_old_key_header_does_not_take_the_ids_it_copied(harness: Harness) -> None:
    """Decided apart (a partitioned flow routes the old and the new key to different tasks; a transaction past the
    limit comes in parts): the create's ``__debezium.oldkey`` header says the row had another key."""
    old_account = _linked_customer(harness)
    deleted, created = _rekeyed(harness, OLD, NEW, 991)
    sent = harness.feed(deleted)
    start = len(harness.emitted)
    records = [harness.run.record(t, k, v, headers=_old_key(deleted) if (t, k, v) == created else ())
               for t, k, v in with_ends([created])]
    asyncio.run(harness.run.feed(records))
    harness.outbox += (more := decode_commands(harness.emitted[start:], harness.schemas))
    settled_under_the_new_key(harness, sent + more, old_account, old=OLD, new=NEW)


def test_a_primary_key_change_that_keeps_the_entity_key_keeps_its_link(harness: Harness) -> None:
    """The row's id changed, its customer number did not: the same customer, its account its own (the delete ends
    it, the create makes it live again, in one transaction: nothing to send)."""
    old_account = _linked_customer(harness)
    deleted, created = _rekeyed(harness, OLD, OLD, 992)
    assert harness.feed_transaction(deleted, created) == []
    (update,) = harness.feed(harness.systems.crm_edit(OLD, name="Acme Ltd"))
    assert (update.key, update.route, update.payload["account_id"]) == (OLD, ("Account", "update"), old_account)


def test_with_the_header_a_key_that_keeps_its_entity_keeps_its_link(harness: Harness) -> None:
    """Decided apart, the create of the same customer under a new row id: its link has the account it reports, so
    the account is made live again (once its deactivation is seen), not created anew."""
    old_account = _linked_customer(harness)
    deleted, created = _rekeyed(harness, OLD, OLD, 993)
    (deactivate,) = harness.feed(deleted)
    assert deactivate.route == ("Account", "deactivate")
    start = len(harness.emitted)
    asyncio.run(harness.run.feed([harness.run.record(t, k, v, headers=_old_key(deleted) if (t, k, v) == created
                                                     else ()) for t, k, v in with_ends([created])]))
    harness.outbox += decode_commands(harness.emitted[start:], harness.schemas)
    applied = harness.settle()
    assert [(s.key, s.route, s.changed) for s in applied] == [(OLD, ("Account", "deactivate"), ("active",)),
                                                              (OLD, ("Account", "update"), ("active",))]
    assert applied[1].payload["account_id"] == old_account and harness.systems.accounts[OLD]["active"] == 1
    assert harness.dead_letters == []
