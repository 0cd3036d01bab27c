"""The flow's state: canonical values survive the JSON store, and the mirror tells echoes from edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig
from streams.flows.customers.exceptions import CorruptState
from streams.flows.customers.mirror import MISSING, Mirror
from streams.flows.customers.state import CustomerState
from streams.flows.engine.values import from_store, to_store
from streams.mapping import RecordMapping
from streams.mapping.reconcile import Stamp

AT = dt.datetime(2026, 3, 10, 6, 0, 0, 123456, tzinfo=dt.UTC)
CRM, ERP = "crm", "erp"


@pytest.fixture(scope="module")
def config(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> EntityConfig:
    """The reference configuration (flows/customers.yaml)."""
    return CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems()).config


def test_decimals_times_and_nested_records_round_trip() -> None:
    value = {"credit_limit": Decimal("12.50"), "at": AT, "due": dt.date(2026, 4, 1),
             "address": {"line1": "1 Road", "line2": None}, "list": [Decimal("0.00"), True]}
    assert from_store(to_store(value)) == value
    assert to_store(value)["credit_limit"] == {"$decimal": "12.50"}


def test_state_round_trips_through_json(config: EntityConfig) -> None:
    state = CustomerState(customer_number="C-900001", config=config,
                          record={"name": "Acme", "credit_limit": Decimal("1.00")},
                          provenance={"name": Stamp(system=CRM, commit_time=AT)},
                          children={"contacts": {"7": {"crm_contact_id": 7, "first_name": "Li"}}},
                          creating={ERP: "erp.Account.create.x"})
    state.mirror(ERP).command("name", "Acme")
    state.mirror(CRM).observe("credit_limit", Decimal("1.00"))
    again = CustomerState.from_json("C-900001", to_store(state.to_json()), config)
    assert again == state


def test_state_stored_before_the_entity_section_still_reads(config: EntityConfig) -> None:
    mirror = {"present": True, "reported": {"name": "Acme"}, "pending": {}}
    old = {"customer_number": "C-900001", "record": {"name": "Acme"}, "provenance": {}, "xref": {},
           "xref_provenance": {}, "contacts": {"7": {"crm_contact_id": 7}}, CRM: mirror, ERP: mirror,
           "creating": "erp.Account.create.x"}
    state = CustomerState.from_json("C-900001", old, config)
    assert state.children == {"contacts": {"7": {"crm_contact_id": 7}}}
    assert state.creating == {ERP: "erp.Account.create.x"} and state.mirror(CRM).present
    assert state.mirror(ERP).reported == {"name": "Acme"}


def test_state_that_is_not_the_flows_is_refused_with_the_fix(config: EntityConfig) -> None:
    with pytest.raises(CorruptState, match="delete the flow's state"):
        CustomerState.from_json("C-900001", {"record": []}, config)


def test_mirror_echo_of_an_in_flight_value_settles_it_and_earlier_ones(config: EntityConfig) -> None:
    mirror = Mirror(system=ERP, holds=config.written[ERP].holds)
    assert mirror.expected("name") is MISSING and not mirror.differs("name", "A")
    mirror.observe("name", "A")
    # a null is a value that clears the field; only an unknown value (MISSING) is never written
    assert mirror.differs("name", "B") and not mirror.differs("name", "A") and mirror.differs("name", None)
    assert not mirror.differs("name", MISSING)
    mirror.command("name", "B")
    mirror.command("name", "C")
    assert mirror.expected("name") == "C"
    assert mirror.observe("name", "B") is True and mirror.pending == {"name": ["C"]}
    assert mirror.observe("name", "X") is False and mirror.expected("name") == "C"
    assert mirror.observe("name", "C") is True and mirror.pending == {} and mirror.expected("name") == "C"


def test_mirror_compares_only_what_the_system_keeps_of_a_nested_record(config: EntityConfig) -> None:
    mirror = Mirror(system=ERP, holds=config.written[ERP].holds)
    mirror.observe("billing_address", {"kind": "billing", "line1": "1 Road", "city": "Shanghai",
                                       "postal_code": None, "country": "CN"})
    wanted = {"kind": "billing", "line1": "1 Road", "line2": "Floor 2", "city": "Shanghai", "postal_code": None,
              "country": "CN"}
    assert not mirror.differs("billing_address", wanted)
    assert mirror.differs("billing_address", {**wanted, "city": "Beijing"})


def test_a_value_already_in_flight_is_not_queued_twice(config: EntityConfig) -> None:
    mirror = Mirror(system=CRM, holds=config.written[CRM].holds)
    mirror.observe("credit_limit", Decimal("1.00"))
    mirror.command("credit_limit", Decimal("2.00"))
    mirror.command("credit_limit", Decimal("2.00"))
    assert mirror.pending == {"credit_limit": [Decimal("2.00")]}


def test_store_values_written_with_the_older_tags_still_read() -> None:
    import datetime as dt
    from decimal import Decimal

    assert from_store({"$dec": "12.50"}) == Decimal("12.50")
    assert from_store({"$ts": "2024-03-10T06:30:00+00:00"}) == dt.datetime(2024, 3, 10, 6, 30, tzinfo=dt.UTC)
