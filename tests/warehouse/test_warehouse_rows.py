"""Captured Debezium records (tests/codecs/fixtures) to warehouse changes: keys, lineage, cleaning, evolution."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from streams.warehouse.rows import Change, Position, Rejection, to_change
from streams.warehouse.tables import MAPPING_VERSION, Rules

FIXTURES = Path(__file__).parents[1] / "codecs" / "fixtures"
SHANGHAI = Rules(erp_time_zone="Asia/Shanghai", client_code_prefix="CL-")


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _run(data: dict[str, Any], rules: Rules = SHANGHAI, offset: int = 7) -> Change | Rejection | None:
    position = Position(topic=data["topic"].removeprefix("fixture_"), partition=0, offset=offset)
    return to_change(position, json.dumps(data["key"]).encode(),
                     None if data["value"] is None else json.dumps(data["value"]).encode(), rules)


def test_invoice_time_is_converted_from_the_erp_zone_and_lineage_recorded() -> None:
    data = _fixture("erp_invoices_c_1")
    change = _run(data)
    assert isinstance(change, Change) and not change.deleted
    assert change.spec.target == "fact_invoice"
    # issued_at 2024-03-11 10:00 wall clock in Shanghai (UTC+8)
    assert change.values["transaction_time"] == dt.datetime(2024, 3, 11, 2, 0, tzinfo=dt.UTC)
    assert change.values["date_key"] == 20240311
    new_york = _run(data, Rules(erp_time_zone="America/New_York", client_code_prefix="CL-"))
    assert isinstance(new_york, Change)
    assert new_york.values["transaction_time"] == dt.datetime(2024, 3, 11, 14, 0, tzinfo=dt.UTC)  # EDT, UTC-4
    assert change.lineage == {
        "source_system": "erp", "source_table": "invoices", "source_key": '{"invoice_id":5}',
        "source_commit_time": change.lineage["source_commit_time"], "source_topic": "erp.erp.invoices",
        "source_partition": 0, "source_offset": 7, "mapping_version": MAPPING_VERSION,
    }
    assert change.lineage["source_commit_time"].tzinfo is not None


def test_client_code_is_prefix_plus_crm_id_and_contacts_are_cleaned() -> None:
    data = _fixture("crm_customers_u_1")
    change = _run(data, Rules(erp_time_zone="Asia/Shanghai", client_code_prefix="KH-"))
    assert isinstance(change, Change)
    assert change.values["client_code"] == "KH-5"
    assert change.values["phone"] == "+15550100"
    assert change.values["email"] == "fixture@example.invalid"


def test_a_new_source_column_lands_in_attributes() -> None:
    data = copy.deepcopy(_fixture("crm_customers_u_1"))
    after_schema = next(f for f in data["value"]["schema"]["fields"] if f["field"] == "after")
    after_schema["fields"].append({"field": "loyalty_tier", "optional": True, "type": "string"})
    data["value"]["payload"]["after"]["loyalty_tier"] = "gold"
    change = _run(data)
    assert isinstance(change, Change)
    assert json.loads(change.values["attributes"])["loyalty_tier"] == "gold"


def test_an_invalid_email_is_rejected_with_the_reason() -> None:
    data = copy.deepcopy(_fixture("crm_customers_u_1"))
    data["value"]["payload"]["after"]["email"] = "nobody at example"
    rejection = _run(data, offset=42)
    assert isinstance(rejection, Rejection)
    assert rejection.position.offset == 42
    assert rejection.reason == "crm.customers {\"id\":5}: email 'nobody at example' is not an e-mail address " \
                               "(local@domain.tld)"


def test_a_delete_marks_the_key_and_tombstones_are_skipped() -> None:
    change = _run(_fixture("erp_sales_orders_d_1"))
    assert isinstance(change, Change) and change.deleted
    assert set(change.values) == {"order_id"}
    assert _run(_fixture("erp_sales_orders_tombstone_1")) is None


def test_garbage_is_rejected_not_raised() -> None:
    position = Position(topic="erp.erp.payments", partition=0, offset=3)
    rejection = to_change(position, b"{}", b"not json", SHANGHAI)
    assert isinstance(rejection, Rejection) and rejection.reason.startswith("undecodable")
    assert to_change(Position(topic="other.topic", partition=0, offset=0), None, b"x", SHANGHAI) is None
