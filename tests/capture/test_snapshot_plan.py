"""Which signal table and tables an incremental snapshot request names, checked before any row is written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.capture.exceptions import SnapshotRequestError
from streams.capture.options import MARIADB, POSTGRES
from streams.capture.signals import plan, request_incremental_snapshot, signal_connection
from streams.systems import Engine

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


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SHOP = {"connector.class": MARIADB, "signal.data.collection": "shop.debezium_signal",
        "table.include.list": "shop.orders,shop.debezium_signal", "database.hostname": "127.0.0.1",
        "database.user": "cdc"}


def test_the_signal_is_written_as_the_connector_on_its_own_server(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's shop on a MariaDB server of its own: the signal went to the stack's MariaDB (the runtime
    settings' one server per engine), which was not running, and the command died with a traceback."""
    secrets = tmp_path / "shop.properties"
    secrets.write_text("shop.db.password=s3cret\n")
    config = {**SHOP, "database.port": "33150", "database.password": f"${{file:{secrets}:shop.db.password}}"}
    connection = signal_connection("shop-source", config, tmp_path)
    assert (connection.engine, connection.host, connection.port, connection.user, connection.database) == (
        Engine.MARIADB, "127.0.0.1", 33150, "cdc", None)
    assert connection.password.reveal() == "s3cret" and "s3cret" not in str(connection)
    monkeypatch.setenv("CRM_PW", "pw")
    crm = signal_connection("crm-source", {"connector.class": POSTGRES, "database.hostname": "db.example",
                                           "database.port": "5433", "database.user": "isthmus",
                                           "database.dbname": "crm", "database.password": "${env:CRM_PW}"})
    assert (crm.engine, crm.host, crm.port, crm.database) == (Engine.POSTGRESQL, "db.example", 5433, "crm")


def test_a_connector_database_that_refuses_is_said_with_the_connection_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret")
    port = _closed_port()
    config = {**SHOP, "database.port": str(port), "database.password": "${env:SHOP_PW}"}
    with pytest.raises(SnapshotRequestError) as raised:
        request_incremental_snapshot("shop-source", config, ["orders"], tmp_path)
    said = str(raised.value)
    assert f"cannot write the snapshot signal into shop.debezium_signal: the connector's database at " \
           f"mariadb://cdc@127.0.0.1:{port} did not let us in" in said
    assert "fix: start that database, or correct the connector's database.hostname" in said
    assert str(tmp_path / "connectors" / "shop-source.yaml") in said and "s3cret" not in said


def test_a_password_reference_that_cannot_be_read_is_said_before_any_connection(tmp_path: Path) -> None:
    config = {**SHOP, "database.port": "3306", "database.password": f"${{file:{tmp_path}/none.properties:pw}}"}
    with pytest.raises(SnapshotRequestError,
                       match=r"shop-source: cannot write the snapshot signal: .*none\.properties"):
        request_incremental_snapshot("shop-source", config, ["orders"], tmp_path)
