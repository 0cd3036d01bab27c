"""Field ownership and conflict policies: who wins, what is audited, and that echoes change nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.mapping import FieldPolicy, MappingError, Policy, Reconciled, Stamp, reconcile
from streams.mapping.reconcile import conflict_id, stamps_from_avro, stamps_to_avro

CRM, ERP = "crm", "erp"
T0 = dt.datetime(2024, 3, 10, 6, 0, tzinfo=dt.UTC)
POLICIES = {
    "name": FieldPolicy(owner=CRM, policy=Policy.OWNER_WINS),
    "credit_limit": FieldPolicy(owner=ERP, policy=Policy.OWNER_WINS),
    "phone": FieldPolicy(owner=CRM, policy=Policy.LATEST_COMMIT_WINS),
    "billing_address": FieldPolicy(owner=CRM, policy=Policy.OWNER_WINS),
}


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fold(
    current: Mapping[str, Any] | None,
    provenance: Mapping[str, Stamp],
    system: str,
    when: int,
    base: Mapping[str, Any] | None = None,
    **incoming: Any,
) -> Reconciled:
    return reconcile(
        entity_type="isthmus.canonical.Customer",
        entity_key="C-000001",
        current=current,
        provenance=provenance,
        incoming=incoming,
        asserted=tuple(incoming),
        base=base,
        system=system,
        commit_time=at(when),
        policies=POLICIES,
        settled_at=at(1000),
    )


def seeded() -> Reconciled:
    """The CRM creates the customer, then the ERP sets its credit limit."""
    created = fold(None, {}, CRM, 0, name="Acme", phone="1", credit_limit=None)
    return fold(created.record, created.provenance, ERP, 5, credit_limit=Decimal("500.00"))


def test_first_values_are_taken_and_stamped() -> None:
    first = fold(None, {}, CRM, 0, name="Acme", phone="1")
    assert first.record == {"name": "Acme", "phone": "1"} and first.changed == ("name", "phone")
    assert first.provenance["name"] == Stamp(system=CRM, commit_time=at(0)) and first.conflicts == ()


def test_owner_replaces_a_provisional_value_without_a_conflict() -> None:
    state = seeded()
    assert state.record["credit_limit"] == Decimal("500.00") and state.changed == ("credit_limit",)
    assert state.conflicts == () and state.provenance["credit_limit"].system is ERP


def test_owner_wins_refuses_the_other_system_and_audits_it() -> None:
    state = seeded()
    edit = fold(
        state.record,
        state.provenance,
        CRM,
        10,
        base={"credit_limit": Decimal("500.00")},
        credit_limit=Decimal("9999.00"),
    )
    assert edit.record["credit_limit"] == Decimal("500.00") and edit.changed == ()
    assert edit.rejected == ("credit_limit",)
    (conflict,) = edit.conflicts
    assert conflict["field"] == "credit_limit" and conflict["policy"] == "owner_wins"
    assert conflict["owner"] == "erp" and conflict["winner"] == "erp"
    assert conflict["values"]["crm"] == '"9999.00"' and conflict["values"]["erp"] == '"500.00"'
    assert conflict["commit_times"]["crm"] == at(10) and conflict["commit_times"]["erp"] == at(5)


def test_owner_edits_are_taken() -> None:
    state = seeded()
    edit = fold(state.record, state.provenance, CRM, 10, base={"name": "Acme"}, name="Acme Ltd")
    assert edit.record["name"] == "Acme Ltd" and edit.changed == ("name",) and edit.conflicts == ()


def test_echo_changes_nothing() -> None:
    state = seeded()
    echo = fold(
        state.record, state.provenance, ERP, 20, base={"name": "Old"}, name="Acme", credit_limit=Decimal("500.00")
    )
    assert echo.record == state.record and echo.changed == () and echo.conflicts == () and echo.rejected == ()


def test_latest_commit_wins_sequential_edits_are_not_conflicts() -> None:
    state = seeded()
    erp_edit = fold(state.record, state.provenance, ERP, 10, base={"phone": "1"}, phone="2")
    assert erp_edit.record["phone"] == "2" and erp_edit.conflicts == ()
    crm_edit = fold(erp_edit.record, erp_edit.provenance, CRM, 20, base={"phone": "2"}, phone="3")
    assert crm_edit.record["phone"] == "3" and crm_edit.conflicts == ()


def test_latest_commit_wins_concurrent_edits_settle_by_commit_time() -> None:
    state = seeded()
    erp_edit = fold(state.record, state.provenance, ERP, 10, base={"phone": "1"}, phone="erp")
    late_crm = fold(erp_edit.record, erp_edit.provenance, CRM, 12, base={"phone": "1"}, phone="crm")
    assert late_crm.record["phone"] == "crm"
    (conflict,) = late_crm.conflicts
    assert conflict["winner"] == "crm" and conflict["policy"] == "latest_commit_wins"
    early_crm = fold(erp_edit.record, erp_edit.provenance, CRM, 8, base={"phone": "1"}, phone="crm")
    assert early_crm.record["phone"] == "erp" and early_crm.rejected == ("phone",)
    assert early_crm.conflicts[0]["winner"] == "erp"


def test_latest_commit_wins_tie_goes_to_the_owner() -> None:
    state = seeded()
    erp_edit = fold(state.record, state.provenance, ERP, 10, base={"phone": "1"}, phone="erp")
    tie = fold(erp_edit.record, erp_edit.provenance, CRM, 10, base={"phone": "1"}, phone="crm")
    assert tie.record["phone"] == "crm" and tie.conflicts[0]["winner"] == "crm"
    state_crm_first = fold(state.record, state.provenance, CRM, 10, base={"phone": "1"}, phone="crm")
    erp_tie = fold(state_crm_first.record, state_crm_first.provenance, ERP, 10, base={"phone": "1"}, phone="erp")
    assert erp_tie.record["phone"] == "crm" and erp_tie.rejected == ("phone",)


def test_nested_record_from_a_source_with_fewer_fields_merges() -> None:
    crm_address = {
        "kind": "billing",
        "line1": "1 Road",
        "line2": "Floor 2",
        "city": "Shanghai",
        "postal_code": "200000",
        "country": "CN",
    }
    state = fold(None, {}, CRM, 0, billing_address=crm_address)
    erp_view = {"kind": "billing", "line1": "1 Road", "city": "Shanghai", "postal_code": "200000", "country": "CN"}
    echo = fold(state.record, state.provenance, ERP, 5, billing_address=erp_view)
    assert echo.changed == () and echo.conflicts == ()
    erp_edit = fold(state.record, state.provenance, ERP, 6, billing_address={**erp_view, "city": "Beijing"})
    assert erp_edit.rejected == ("billing_address",) and erp_edit.record["billing_address"]["city"] == "Shanghai"
    assert '"line2": "Floor 2"' in erp_edit.conflicts[0]["values"]["crm"]


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(MappingError, match="no owner and policy"):
        fold(None, {}, CRM, 0, nickname="x")


def test_conflict_ids_are_deterministic_and_records_encode() -> None:
    state = seeded()
    first = fold(state.record, state.provenance, CRM, 10, credit_limit=Decimal("1.00"))
    again = fold(state.record, state.provenance, CRM, 10, credit_limit=Decimal("1.00"))
    assert (
        first.conflicts[0]["conflict_id"]
        == again.conflicts[0]["conflict_id"]
        == conflict_id("isthmus.canonical.Customer", "C-000001", "credit_limit", {"crm": at(10), "erp": at(5)})
    )
    store = SchemaStore.from_directory()
    decoded = store.decode(store.encode("ConflictRecord", first.conflicts[0]))
    assert decoded.value["winner"] == "erp" and decoded.value["settled_at"] == at(1000)


def test_provenance_round_trips_through_the_customer_schema() -> None:
    state = seeded()
    store = SchemaStore.from_directory()
    record = {"customer_number": "C-000001", "name": "Acme", "provenance": stamps_to_avro(state.provenance)}
    decoded = store.decode(store.encode("Customer", record))
    assert stamps_from_avro(decoded.value["provenance"]) == dict(state.provenance)


def test_fixed_point_after_a_burst_of_edits() -> None:
    """Feeding every system the reconciled value back (the writes Isthmus makes) produces no new change."""
    state = seeded()
    for when, system, fields in (
        (11, CRM, {"name": "B", "credit_limit": Decimal("1.00")}),
        (12, ERP, {"phone": "9", "name": "C"}),
        (13, CRM, {"phone": "8"}),
    ):
        state = fold(state.record, state.provenance, system, when, **fields)
    for system in (CRM, ERP):
        echo = fold(state.record, state.provenance, system, 99, **dict(state.record))
        assert echo.changed == () and echo.conflicts == () and echo.rejected == ()
