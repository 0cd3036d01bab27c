"""Field ownership: an owner's edit reaches the other system with only the changed fields; an edit in the
system that does not own the field is settled by its policy, written back to the loser and audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from customer_harness import Harness

NUMBER = "C-200001"


@pytest.fixture
def linked(harness: Harness) -> Harness:
    """A customer created in the CRM, its account created and linked, every echo back."""
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme", email="a@acme.cn", phone="111"))
    harness.settle()
    assert harness.outbox == [] and harness.conflicts() == []
    return harness


def test_crm_edit_of_a_crm_owned_field_updates_only_that_field_in_the_erp(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.crm_edit(NUMBER, name="Acme Holdings", email="a@acme.cn"))
    assert sent.route == ("Account", "update") and sent.changed == ("name",)
    assert sent.payload["name"] == "Acme Holdings"
    assert sent.payload["account_id"] == linked.systems.accounts[NUMBER]["account_id"]
    (echo_applied,) = linked.settle()
    assert echo_applied is sent and linked.outbox == []
    assert linked.systems.accounts[NUMBER]["name"] == "Acme Holdings" and linked.conflicts() == []


def test_erp_edit_of_an_erp_owned_field_updates_the_crm(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.erp_edit(NUMBER, credit_limit="2500.00", blocked=True))
    assert sent.route == ("Customer", "update") and sent.changed == ("credit_limit", "blocked")
    assert sent.payload["credit_limit"] == "2500.00" and sent.payload["blocked"] is True
    linked.settle()
    assert linked.outbox == [] and linked.conflicts() == []
    assert linked.canonical(NUMBER)["credit_limit"] == Decimal("2500.00")


def test_crm_edit_of_an_erp_owned_field_loses_is_written_back_and_audited(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.crm_edit(NUMBER, credit_limit="99999.00"))
    assert sent.route == ("Customer", "update") and sent.changed == ("credit_limit",)
    assert sent.payload["credit_limit"] == "0.00"
    (conflict,) = linked.conflicts()
    assert conflict["field"] == "credit_limit" and conflict["entity_key"] == NUMBER
    assert conflict["policy"] == "owner_wins" and conflict["owner"] == "erp" and conflict["winner"] == "erp"
    assert conflict["values"]["crm"] == '"99999.00"' and conflict["values"]["erp"] == '"0.00"'
    linked.settle()
    assert linked.outbox == [] and len(linked.conflicts()) == 1
    assert linked.systems.crm_view(NUMBER)["credit_limit"] == "AA=="


def test_erp_edit_of_a_crm_owned_field_loses_is_written_back_and_audited(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.erp_edit(NUMBER, name="Renamed In ERP"))
    assert sent.route == ("Account", "update") and sent.changed == ("name",) and sent.payload["name"] == "Acme"
    (conflict,) = linked.conflicts()
    assert (conflict["field"], conflict["winner"], conflict["owner"]) == ("name", "crm", "crm")
    assert conflict["values"]["erp"] == '"Renamed In ERP"' and conflict["values"]["crm"] == '"Acme"'
    linked.settle()
    assert linked.systems.accounts[NUMBER]["name"] == "Acme" and linked.outbox == []


def test_latest_commit_wins_the_later_erp_edit_beats_an_earlier_crm_edit(linked: Harness) -> None:
    systems = linked.systems
    (to_erp,) = linked.feed(systems.crm_edit(NUMBER, phone="222"))
    assert to_erp.route == ("Account", "update") and to_erp.payload["phone"] == "222"
    # The ERP user changes the phone before the sink applied the CRM's value (a later commit).
    resend, to_crm = linked.feed(systems.erp_edit(NUMBER, phone="333"))
    (conflict,) = linked.conflicts()
    assert conflict["policy"] == "latest_commit_wins" and conflict["winner"] == "erp"
    assert conflict["values"]["crm"] == '"222"' and conflict["values"]["erp"] == '"333"'
    assert conflict["commit_times"]["erp"] > conflict["commit_times"]["crm"]
    # The CRM's value is still in flight to the ERP: the winning value is sent after it.
    assert resend.route == ("Account", "update") and resend.payload["phone"] == "333"
    # The CRM lost: it gets the winning value.
    assert to_crm.route == ("Customer", "update") and to_crm.changed == ("phone",) and to_crm.payload["phone"] == "333"
    linked.settle()
    assert systems.accounts[NUMBER]["phone"] == "333" and linked.canonical(NUMBER)["phone"] == "333"
    assert systems.customers[NUMBER]["phone"] == "333"
    assert linked.outbox == [] and len(linked.conflicts()) == 1


def test_latest_commit_wins_an_earlier_erp_edit_arriving_late_loses(linked: Harness) -> None:
    systems = linked.systems
    erp_edit = systems.erp_edit(NUMBER, phone="444")  # committed first
    crm_edit = systems.crm_edit(NUMBER, phone="555")  # committed later, processed first
    (to_erp,) = linked.feed(crm_edit)
    # The ERP's older value is refused; the CRM's, already on its way to the ERP, lands after it.
    assert linked.feed(erp_edit) == []
    (conflict,) = linked.conflicts()
    assert conflict["winner"] == "crm" and conflict["policy"] == "latest_commit_wins"
    assert conflict["values"]["crm"] == '"555"' and conflict["values"]["erp"] == '"444"'
    assert to_erp.payload["phone"] == "555"
    linked.settle()
    assert systems.accounts[NUMBER]["phone"] == "555" and linked.outbox == []
    assert linked.canonical(NUMBER)["phone"] == "555"


def test_replaying_the_same_changes_audits_the_same_conflict_ids(linked: Harness) -> None:
    linked.feed(linked.systems.erp_edit(NUMBER, name="ERP Name"), linked.systems.crm_edit(NUMBER, credit_limit="7.00"))
    replay = Harness(flow=linked.flow, schemas=linked.schemas)
    replay.feed(*linked.fed)
    ids = [c["conflict_id"] for c in linked.conflicts()]
    assert len(ids) == 2 and ids == [c["conflict_id"] for c in replay.conflicts()]
    assert [s.record["idempotency_key"] for s in replay.sent] == [s.record["idempotency_key"] for s in linked.sent]
