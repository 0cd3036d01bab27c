"""Which signal table and tables an incremental snapshot request names, checked before any row is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.capture.exceptions import SnapshotRequestError
from streams.capture.signals import plan

CRM = {"signal.data.collection": "crm.debezium_signal",
       "table.include.list": "crm.customers,crm.products,crm\\.sales_.*,crm.debezium_signal"}


def test_bare_names_are_qualified_with_the_signal_tables_schema() -> None:
    assert plan("crm-source", CRM, ["customers", "crm.products", "customers"]) == (
        "crm.debezium_signal", ("crm.customers", "crm.products"))


def test_include_list_entries_are_regular_expressions() -> None:
    assert plan("crm-source", CRM, ["sales_order_lines"])[1] == ("crm.sales_order_lines",)


def test_a_table_the_connector_does_not_capture_is_refused_with_the_fix() -> None:
    with pytest.raises(SnapshotRequestError, match=r"crm-source does not capture crm.idempotency_keys .*fix: "
                                                   r"choose captured tables"):
        plan("crm-source", CRM, ["idempotency_keys"])


def test_no_signal_table() -> None:
    with pytest.raises(SnapshotRequestError, match=r"has no signal table \(signal.data.collection\)"):
        plan("x", {"table.include.list": "a.b"}, ["b"])


def test_no_tables() -> None:
    with pytest.raises(SnapshotRequestError, match="--tables"):
        plan("crm-source", CRM, [])


def test_the_fix_names_the_connector_file_in_the_configs_folder_in_use() -> None:
    # a user's connectors under wawi/connect-configs (ISTHMUS_CONNECT_CONFIGS_DIR) were sent to connect-configs/
    with pytest.raises(SnapshotRequestError) as raised:
        plan("wawi-source", {"table.include.list": "WaWi.Debitor"}, ["Debitor"], Path("wawi/connect-configs"))
    assert "wawi/connect-configs/connectors/wawi-source.yaml" in str(raised.value)
    assert "CREATE TABLE <schema>.debezium_signal" in str(raised.value)
    with pytest.raises(SnapshotRequestError, match=r"add them to wawi/connect-configs/connectors/crm-source\.yaml"):
        plan("crm-source", CRM, ["idempotency_keys"], Path("wawi/connect-configs"))
