"""Latest-commit-wins across clocks of different precision: the ERP's (MariaDB) commit times have whole seconds,
the CRM's (PostgreSQL) microseconds. Times are compared at the coarser precision of the two; on the same instant
the change that was made on top of the other side's value (its before-image holds it) wins, else the owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.mapping import FieldPolicy, Policy, Reconciled, Stamp, reconcile
from streams.mapping.reconcile import Rule, truncated, uncleared

CRM, ERP = "crm", "erp"
#: As systems/crm.yaml and systems/erp.yaml give them (engines postgresql and mariadb).
CLOCKS = {CRM: dt.timedelta(microseconds=1), ERP: dt.timedelta(seconds=1)}
NOON = dt.datetime(2026, 3, 10, 12, 0, 0, tzinfo=dt.UTC)
#: The CRM's commit at every tenth of a second (and close to both ends) of one second.
OFFSETS = (1, 99_999, 250_000, 500_000, 700_000, 999_999)


def _fold(current: Mapping[str, Any], provenance: Mapping[str, Stamp], system: str, at: dt.datetime,
          value: Any, *, base: Mapping[str, Any] | None, owner: str = CRM,
          clocks: Mapping[str, dt.timedelta] | None = CLOCKS) -> Reconciled:
    return reconcile(entity_type="isthmus.canonical.Customer", entity_key="C-000001", current=current,
                     provenance=provenance, incoming={"phone": value}, asserted=("phone",), base=base, system=system,
                     commit_time=at, policies={"phone": FieldPolicy(owner=owner, policy=Policy.LATEST_COMMIT_WINS)},
                     settled_at=NOON + dt.timedelta(hours=1), clocks=clocks)


def _standing(system: str, at: dt.datetime, value: Any) -> tuple[dict[str, Any], dict[str, Stamp]]:
    return {"phone": value}, {"phone": Stamp(system=system, commit_time=at)}


def test_truncated_cuts_to_the_resolution() -> None:
    at = NOON + dt.timedelta(microseconds=700_123)
    assert truncated(at, dt.timedelta(seconds=1)) == NOON
    assert truncated(at, dt.timedelta(milliseconds=1)) == NOON + dt.timedelta(microseconds=700_000)
    assert truncated(at, dt.timedelta(microseconds=1)) == at


@pytest.mark.parametrize("offset", OFFSETS)
def test_an_erp_edit_on_top_of_a_crm_edit_in_the_same_second_wins(offset: int) -> None:
    """The CRM's value (owner crm) reached the ERP, a user there edited it in the same second: the ERP's
    whole-second commit time is earlier than the CRM's, but its before-image proves it came after."""
    record, stamps = _standing(CRM, NOON + dt.timedelta(microseconds=offset), "111")
    result = _fold(record, stamps, ERP, NOON, "222", base={"phone": "111"})
    assert result.record["phone"] == "222" and result.provenance["phone"].system == ERP
    assert result.conflicts == ()  # made on top of the standing value: an edit, not a conflict


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_crm_edit_on_top_of_an_erp_edit_in_the_same_second_wins(offset: int) -> None:
    """The reverse, with the ERP owning the field: the CRM's edit made on top of the ERP's value wins."""
    record, stamps = _standing(ERP, NOON, "222")
    result = _fold(record, stamps, CRM, NOON + dt.timedelta(microseconds=offset), "333", base={"phone": "222"},
                   owner=ERP)
    assert result.record["phone"] == "333" and result.conflicts == ()


@pytest.mark.parametrize("offset", OFFSETS)
def test_independent_edits_in_the_same_second_go_to_the_owner_in_either_order(offset: int) -> None:
    """Neither change saw the other's value: nothing proves an order, so the owner (crm) wins whichever is
    folded first, and the audit record says the tie rule decided."""
    crm_at = NOON + dt.timedelta(microseconds=offset)
    record, stamps = _standing(CRM, crm_at, "111")
    erp_second = _fold(record, stamps, ERP, NOON, "222", base={"phone": "000"})
    record, stamps = _standing(ERP, NOON, "222")
    crm_second = _fold(record, stamps, CRM, crm_at, "111", base={"phone": "000"})
    assert erp_second.record["phone"] == crm_second.record["phone"] == "111"
    (conflict,) = erp_second.conflicts
    assert conflict["rule"] == Rule.OWNER_ON_TIE.value and conflict["winner"] == CRM
    assert crm_second.conflicts[0]["rule"] == Rule.OWNER_ON_TIE.value


def test_a_later_second_wins_and_says_so() -> None:
    record, stamps = _standing(CRM, NOON + dt.timedelta(microseconds=900_000), "111")
    result = _fold(record, stamps, ERP, NOON + dt.timedelta(seconds=1), "222", base=None)
    assert result.record["phone"] == "222"
    assert result.conflicts[0]["rule"] == Rule.LATER_COMMIT.value and result.conflicts[0]["winner"] == ERP


def test_microseconds_past_the_other_sides_second_are_the_same_instant() -> None:
    """12:00:00.2 at the CRM is not later than 12:00:00 at the ERP, whose edit may have committed at .9."""
    record, stamps = _standing(ERP, NOON, "222")
    result = _fold(record, stamps, CRM, NOON + dt.timedelta(microseconds=200_000), "111", base=None, owner=ERP)
    assert result.record["phone"] == "222" and result.rejected == ("phone",)
    assert result.conflicts[0]["rule"] == Rule.OWNER_ON_TIE.value


def test_without_clocks_times_are_compared_exactly() -> None:
    record, stamps = _standing(CRM, NOON + dt.timedelta(microseconds=500_000), "111")
    result = _fold(record, stamps, ERP, NOON, "222", base={"phone": "000"}, clocks=None)
    assert result.record["phone"] == "111" and result.conflicts[0]["rule"] == Rule.LATER_COMMIT.value


def test_owner_wins_records_say_the_owner_decided() -> None:
    result = reconcile(entity_type="isthmus.canonical.Customer", entity_key="C-000001", current={"name": "Acme"},
                       provenance={"name": Stamp(system=CRM, commit_time=NOON)}, incoming={"name": "Other"},
                       asserted=("name",), base=None, system=ERP, commit_time=NOON + dt.timedelta(seconds=5),
                       policies={"name": FieldPolicy(owner=CRM, policy=Policy.OWNER_WINS)}, settled_at=NOON,
                       clocks=CLOCKS)
    assert result.record["name"] == "Acme" and result.conflicts[0]["rule"] == Rule.OWNER.value


def test_every_rule_encodes_as_a_conflict_record() -> None:
    store = SchemaStore.from_directory()
    record, stamps = _standing(CRM, NOON, "111")
    (tie,) = _fold(record, stamps, ERP, NOON, "222", base=None).conflicts
    kept = uncleared(entity_type="isthmus.canonical.Customer", entity_key="C-000001", field="name",
                     policy=FieldPolicy(owner=CRM, policy=Policy.OWNER_WINS),
                     stamp=Stamp(system=CRM, commit_time=NOON), target=ERP, kept="Acme", settled_at=NOON)
    for record_ in (tie, kept):
        decoded = store.decode(store.encode("ConflictRecord", record_)).value
        assert decoded["rule"] == record_["rule"] and decoded["values"] == record_["values"]
    assert kept["values"] == {CRM: None, ERP: '"Acme"'} and kept["winner"] == CRM
