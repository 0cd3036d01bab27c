"""Look-ups across tables (streams.flows.lookups): records kept from their own mapping file's sources, indexed by
what look-ups ask, moved when a row changes record, emptied by key-only deletes, and known where a change waits."""

from __future__ import annotations

from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Source
from streams.flows.engine.stores import MemoryStore
from streams.flows.exceptions import FlowUnavailable
from streams.flows.lookups import LookupContext, LookupTables, lookups_of
from streams.mapping import Context, load_mappings
from streams.mapping.spec import RecordMapping
from streams.systems import load_systems

XREF = "CustomerAccountXref"


@pytest.fixture(scope="module")
def mappings() -> dict[str, RecordMapping]:
    return load_mappings(schemas=SchemaStore.from_directory().schemas)


@pytest.fixture
def tables(mappings: dict[str, RecordMapping]) -> LookupTables:
    named = SchemaStore.from_directory().schemas.named
    needs = {(XREF, "crm_customer_id", "customer_number"), (XREF, "erp_account_id", "customer_number"),
             (XREF, "crm_customer_id", "erp_account_id")}
    return LookupTables(needs, mappings=mappings, systems=load_systems(env={}), named=named, flow="test")


def _event(op: Op, table: str, key: dict[str, Any], *, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> ChangeEvent:
    source = Source(connector="postgresql", name="crm", version="3", db="crm", ts_ms=1_700_000_000_000, table=table)
    return ChangeEvent(op=op, source=source, before=before, after=after, key=key)


def test_the_records_to_keep_come_from_the_mapping_files_and_topics_from_the_systems(tables: LookupTables) -> None:
    assert set(tables.topics) == {"crm.crm.customers", "erp.erp.accounts"}
    assert tables.indexed == {XREF: ("crm_customer_id", "erp_account_id")}


def test_a_record_joins_its_sources_by_key_across_systems(tables: LookupTables) -> None:
    store = MemoryStore("links")
    crm = _event(Op.CREATE, "customers", {"id": 7}, after={"id": 7, "customer_number": "C-7"})
    released = tables.observe(store, "crm.crm.customers", crm, Context())
    assert tables.find(store, XREF, "crm_customer_id", 7) == {"customer_number": "C-7", "crm_customer_id": 7}
    assert tables.waiting_key(XREF, "crm_customer_id", 7) in released
    erp = _event(Op.CREATE, "accounts", {"account_id": 40},
                 after={"account_id": 40, "crm_customer_number": "C-7", "account_code": "AC-7"})
    released = tables.observe(store, "erp.erp.accounts", erp, Context())
    # the CRM's id now finds the ERP's account too: one record, two systems
    assert tables.find(store, XREF, "crm_customer_id", 7) == {
        "customer_number": "C-7", "crm_customer_id": 7, "erp_account_id": 40}
    assert tables.find(store, "isthmus.canonical.CustomerAccountXref", "erp_account_id", 40) is not None
    # a waiting change that needed the account id of customer 7 is released by the ERP's row
    assert tables.waiting_key(XREF, "crm_customer_id", 7) in released


def test_a_row_that_moves_to_another_key_leaves_the_old_record(tables: LookupTables) -> None:
    store = MemoryStore("links")
    first = _event(Op.CREATE, "customers", {"id": 7}, after={"id": 7, "customer_number": "C-7"})
    tables.observe(store, "crm.crm.customers", first, Context())
    renumbered = _event(Op.UPDATE, "customers", {"id": 7}, after={"id": 7, "customer_number": "C-8"})
    tables.observe(store, "crm.crm.customers", renumbered, Context())
    assert tables.find(store, XREF, "crm_customer_id", 7) == {"customer_number": "C-8", "crm_customer_id": 7}
    assert store.get('CustomerAccountXref|="C-7"') is None


def test_a_key_only_delete_takes_the_rows_fields_away(tables: LookupTables) -> None:
    store = MemoryStore("links")
    tables.observe(store, "crm.crm.customers",
                   _event(Op.CREATE, "customers", {"id": 7}, after={"id": 7, "customer_number": "C-7"}), Context())
    deleted = _event(Op.DELETE, "customers", {"id": 7}, before=None)
    tables.observe(store, "crm.crm.customers", deleted, Context())
    assert tables.find(store, XREF, "crm_customer_id", 7) is None
    assert len(store) == 0


def test_a_row_the_source_filters_out_states_nothing(tables: LookupTables) -> None:
    store = MemoryStore("links")
    # an account made in the ERP itself has no CRM customer number (the source's `when:`)
    erp = _event(Op.CREATE, "accounts", {"account_id": 41}, after={"account_id": 41, "crm_customer_number": None})
    assert tables.observe(store, "erp.erp.accounts", erp, Context()) == []
    assert len(store) == 0


def test_the_lookup_context_says_where_a_change_waits(tables: LookupTables) -> None:
    store = MemoryStore("links")
    lookup = LookupContext(tables, store)
    assert lookup(XREF, "crm_customer_id", 9) is None
    assert lookup.last == tables.waiting_key(XREF, "crm_customer_id", 9)


def test_a_record_s_lookup_context_is_the_store_s_one_with_its_last_look_up_cleared(tables: LookupTables) -> None:
    store, other = MemoryStore("links"), MemoryStore("links")
    first = tables.context(store)
    first(XREF, "crm_customer_id", 9)
    assert first.last is not None
    again = tables.context(store)  # the next record over the same store
    assert again is first, "one object per store: what a flow builds on it is built once"
    assert again.last is None, "a record starts with no look-up asked: it cannot wait where the one before did"
    elsewhere = tables.context(other)  # another task's store
    assert elsewhere is not first and elsewhere.store is other and elsewhere.last is None


def test_a_look_up_of_a_record_no_mapping_file_targets_makes_the_flow_unavailable(
        mappings: dict[str, RecordMapping]) -> None:
    without = {k: v for k, v in mappings.items() if k != "customer_account_xref"}
    needs = lookups_of(s for m in without.values() for s in m.sources)
    assert (XREF, "erp_account_id", "customer_number") in needs
    with pytest.raises(FlowUnavailable, match=r"looks up CustomerAccountXref .* no mapping file targets it"):
        LookupTables(needs, mappings=without, systems=load_systems(env={}),
                     named=SchemaStore.from_directory().schemas.named, flow="test")
