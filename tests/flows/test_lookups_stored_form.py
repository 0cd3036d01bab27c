"""The look-ups' stored form stays what changelogs hold: keys carry each value as ``json.dumps(value,
sort_keys=True)`` writes it (spaces after separators, non-ASCII escaped), so a flow restoring an old changelog
finds its records, its indexes and the rows' records (streams.flows.lookups)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Source
from streams.flows.engine.stores import MemoryStore
from streams.flows.lookups import LookupTables
from streams.mapping import Context, load_mappings
from streams.systems import load_systems

pytestmark = pytest.mark.unit

XREF = "CustomerAccountXref"


@pytest.fixture(scope="module")
def tables() -> LookupTables:
    schemas = SchemaStore.from_directory().schemas
    needs = {(XREF, "crm_customer_id", "customer_number"), (XREF, "erp_account_id", "customer_number")}
    return LookupTables(needs, mappings=load_mappings(schemas=schemas), systems=load_systems(env={}),
                        named=schemas.named, flow="test")


def _event(table: str, key: dict[str, Any], after: dict[str, Any]) -> ChangeEvent:
    source = Source(connector="postgresql", name="crm", version="3", db="crm", ts_ms=1_700_000_000_000, table=table)
    return ChangeEvent(op=Op.CREATE, source=source, before=None, after=after, key=key)


def test_keys_and_values_are_the_ones_old_changelogs_hold(tables: LookupTables) -> None:
    store = MemoryStore("links")
    tables.observe(store, "crm.crm.customers",
                   _event("customers", {"id": 7}, {"id": 7, "customer_number": "C-ü7"}), Context())
    tables.observe(store, "erp.erp.accounts",
                   _event("accounts", {"account_id": 40}, {"account_id": 40, "crm_customer_number": "C-ü7"}),
                   Context())
    assert dict(store.items()) == {
        'CustomerAccountXref|crm_customers@{"id": 7}': {"key": '"C-\\u00fc7"'},
        'CustomerAccountXref|erp_accounts@{"account_id": 40}': {"key": '"C-\\u00fc7"'},
        'CustomerAccountXref|="C-\\u00fc7"': {"customer_number": "C-ü7", "crm_customer_id": 7, "erp_account_id": 40,
                                           "|rows": 2},
        "CustomerAccountXref|crm_customer_id=7": {"key": '"C-\\u00fc7"'},
        "CustomerAccountXref|erp_account_id=40": {"key": '"C-\\u00fc7"'},
    }


def test_a_record_an_old_changelog_holds_without_its_row_count_is_found_and_forgotten_by_its_fields(
        tables: LookupTables) -> None:
    store = MemoryStore("links")
    store.put('CustomerAccountXref|="C-7"', {"customer_number": "C-7", "crm_customer_id": 7})
    store.put('CustomerAccountXref|crm_customers@{"id": 7}', {"key": '"C-7"'})
    store.put("CustomerAccountXref|crm_customer_id=7", {"key": '"C-7"'})
    assert tables.find(store, XREF, "crm_customer_id", 7) == {"customer_number": "C-7", "crm_customer_id": 7}
    deleted = ChangeEvent(op=Op.DELETE, source=_event("customers", {}, {}).source, before=None, after=None,
                          key={"id": 7})
    tables.observe(store, "crm.crm.customers", deleted, Context())
    assert tables.find(store, XREF, "crm_customer_id", 7) is None and len(store) == 0


@pytest.mark.parametrize("value", [7, "C-ü7", None, True, Decimal("12.50"), {"b": 1, "a": [2, "x"]}])
def test_a_waiting_key_writes_its_value_as_json_dumps_with_sorted_keys(value: Any) -> None:
    stored = {"$decimal": "12.50"} if isinstance(value, Decimal) else value
    assert LookupTables.waiting_key(XREF, "by", value) == f"{XREF}|by={json.dumps(stored, sort_keys=True)}"
