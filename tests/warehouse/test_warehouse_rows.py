"""Canonical records to warehouse changes: tables, lineage, cleaning, deletes, schema evolution."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from fastavro import schemaless_writer

from streams.codecs.avro.single_object import MARKER, SchemaStore
from streams.flows.canonical.lineage import Lineage
from streams.warehouse.rows import Change, Position, Rejection, to_changes
from streams.warehouse.tables import Rules, TableSpec
from streams.warehouse.tables_file import load_tables

RULES = Rules(client_code_prefix="CL-")
#: The reference warehouse/tables.yaml: canonical topic name -> the tables it feeds.
BY_NAME: dict[str, tuple[TableSpec, ...]] = load_tables().by_topic
COMMIT = dt.datetime(2026, 11, 25, 9, 0, 1, 250000, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


def _lineage(table: str, key: str, system: str = "erp") -> Lineage:
    return Lineage(system=system, table=table, key=key, commit_time=COMMIT, change=f"{system}:p:{table}:{key}",
                   topic=f"{system}.{system}.{table}", partition=0, offset=41, mapping_version=f"{table}@abc")


def _load(schemas: SchemaStore, name: str, schema: str, value: dict[str, Any], lineage: Lineage,
          offset: int = 7) -> Change | tuple[Change, ...] | Rejection | None:
    position = Position(topic=f"isthmus.canonical.{name}", partition=0, offset=offset)
    outcome = to_changes(position, BY_NAME[name], schemas.encode(schema, value), lineage.headers().items(), schemas,
                         RULES)
    if isinstance(outcome, tuple) and len(outcome) == 1:
        return outcome[0]
    return outcome


def _customer(**fields: Any) -> dict[str, Any]:
    return {"customer_number": "C-000005", "crm_customer_id": 5, "name": "  Acme Ltd ", "email": " Jane@Example.COM",
            "phone": "+1 (555) 010-0100", "blocked": False, "active": True, **fields}


def test_payment_lineage_names_the_canonical_record_and_the_cdc_record_behind_it(schemas: SchemaStore) -> None:
    payment = {"payment_id": 9, "invoice_id": 5, "erp_account_id": 3, "amount": Decimal("10.05"),
               "paid_at": dt.datetime(2024, 3, 25, 20, 45, tzinfo=dt.UTC)}
    change = _load(schemas, "payments", "isthmus.canonical.Payment", payment,
                   _lineage("payments", '{"payment_id":9}'))
    assert isinstance(change, Change) and not change.deleted and change.spec.target == "fact_payment"
    assert change.values["transaction_time"] == dt.datetime(2024, 3, 25, 20, 45, tzinfo=dt.UTC)
    assert change.values["date_key"] == 20240325
    assert change.lineage == {
        "source_system": "erp", "source_table": "payments", "source_key": '{"payment_id":9}',
        "source_commit_time": COMMIT, "source_topic": "isthmus.canonical.payments", "source_partition": 0,
        "source_offset": 7, "cdc_topic": "erp.erp.payments", "cdc_partition": 0, "cdc_offset": 41,
        "mapping_version": "payments@abc",
    }


def test_a_customer_is_a_cleaned_client_and_with_its_account_also_an_account(schemas: SchemaStore) -> None:
    lineage = _lineage("customers", '{"id":5}', system="crm")
    client = _load(schemas, "customers", "isthmus.canonical.Customer", _customer(), lineage)
    assert isinstance(client, Change) and client.spec.target == "dim_client"
    assert (client.values["client_code"], client.values["name"], client.values["email"], client.values["phone"]) == \
           ("CL-5", "Acme Ltd", "jane@example.com", "+15550100100")
    both = _load(schemas, "customers", "isthmus.canonical.Customer",
                 _customer(erp_account_id=3, account_code="AC-000005"), lineage)
    assert isinstance(both, tuple) and [c.spec.target for c in both] == ["dim_client", "dim_account"]
    assert both[1].values["crm_customer_number"] == "C-000005"
    gone = _load(schemas, "customers", "isthmus.canonical.Customer", _customer(active=False), lineage)
    assert isinstance(gone, Change) and gone.deleted
    erp_only = _load(schemas, "customers", "isthmus.canonical.Customer", _customer(crm_customer_id=None), lineage)
    assert erp_only is None  # no client until the CRM side is known


def test_an_invalid_email_is_rejected_with_the_reason(schemas: SchemaStore) -> None:
    rejection = _load(schemas, "customers", "isthmus.canonical.Customer", _customer(email="nobody at example"),
                      _lineage("customers", '{"id":5}', system="crm"), offset=42)
    assert isinstance(rejection, Rejection) and rejection.position.offset == 42
    assert rejection.reason == "crm.customers {\"id\":5} -> dim_client: email 'nobody at example' is not an e-mail " \
                               "address (local@domain.tld) (rule `clean: email`)"


def test_a_deleted_invoice_marks_its_row(schemas: SchemaStore) -> None:
    invoice = {"invoice_id": 5, "invoice_no": "I-5", "erp_order_id": 4, "erp_account_id": 3, "amount": Decimal("1.00"),
               "issued_at": dt.datetime(2024, 3, 11, 2, tzinfo=dt.UTC), "due_date": dt.date(2024, 4, 10),
               "status": "paid", "deleted": True}
    change = _load(schemas, "invoices", "isthmus.canonical.Invoice", invoice, _lineage("invoices", '{"invoice_id":5}'))
    assert isinstance(change, Change) and change.deleted and change.values["invoice_no"] == "I-5"


def test_an_older_schema_version_loads_and_unknown_fields_land_in_attributes(schemas: SchemaStore) -> None:
    """``Customer`` v1 (schemas/history) had no shipping_address or provenance: its records still load."""
    (v1,) = [s for s in schemas.fingerprints().values() if s.name == "isthmus.canonical.Customer" and s.version == "v1"]
    body = _customer(erp_account_id=None)
    raw = bytearray(MARKER + v1.fingerprint)
    buffer = io.BytesIO()
    schemaless_writer(buffer, v1.parsed, {**body, "contacts": [], "billing_address": None})
    raw += buffer.getvalue()
    position = Position(topic="isthmus.canonical.customers", partition=0, offset=3)
    outcome = to_changes(position, BY_NAME["customers"], bytes(raw),
                         _lineage("customers", '{"id":5}', "crm").headers().items(), schemas, RULES)
    assert isinstance(outcome, tuple) and outcome[0].values["client_code"] == "CL-5"
    assert json.loads(outcome[0].values["attributes"])["provenance"] == {}  # the current schema's default


def test_garbage_wrong_types_and_missing_lineage_are_rejected_not_raised(schemas: SchemaStore) -> None:
    position = Position(topic="isthmus.canonical.payments", partition=0, offset=3)
    headers = _lineage("payments", '{"payment_id":9}').headers().items()
    garbage = to_changes(position, BY_NAME["payments"], b"not avro", headers, schemas, RULES)
    assert isinstance(garbage, Rejection) and garbage.reason.startswith("undecodable")
    product = schemas.encode("isthmus.canonical.Product", {"sku": "S", "description": "d", "unit_price": Decimal(1)})
    wrong = to_changes(position, BY_NAME["payments"], product, headers, schemas, RULES)
    assert isinstance(wrong, Rejection) and "is a isthmus.canonical.Product" in wrong.reason
    unlabelled = to_changes(position, BY_NAME["payments"], product, (), schemas, RULES)
    assert isinstance(unlabelled, Rejection) and "no isthmus-lineage" in unlabelled.reason
    assert to_changes(position, BY_NAME["payments"], None, headers, schemas, RULES) is None
