"""`isthmus connectors validate` reads a MariaDB connector's server with the connector's own connection: a binlog
that is not row-based or lacks full row images, and a capture user without the grants Debezium needs. A new user's
server (binlog_format MIXED, binlog_row_image MINIMAL, a SELECT-only user) was `valid (isthmus and Kafka Connect)`,
and the task then FAILED seven times in a row, one setting or grant at a time."""

from __future__ import annotations

from pathlib import Path

from streams.capture import configs
from streams.capture.validation import check_binlog_server, missing_grants
from streams.catalog.model import BinlogServer

FULL = BinlogServer(log_bin=True, binlog_format="ROW", binlog_row_image="FULL", grants=(
    "GRANT RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `tillcdc`@`127.0.0.1` IDENTIFIED BY PASSWORD '*B2E8'",
    "GRANT SELECT, LOCK TABLES ON `erp`.* TO `tillcdc`@`127.0.0.1`",
    "GRANT INSERT ON `erp`.`debezium_signal` TO `tillcdc`@`127.0.0.1`"))


def _erp_source(config_root: Path, variables: dict[str, str]) -> configs.LocalConnector:
    return configs.load(config_root, env="local").render("erp-source", variables)


def test_a_server_as_debezium_needs_it_is_valid(config_root: Path, variables: dict[str, str]) -> None:
    assert check_binlog_server(_erp_source(config_root, variables), FULL) == []
    stack = BinlogServer(log_bin=True, binlog_format="ROW", binlog_row_image="FULL", grants=(
        "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR, LOCK TABLES ON *.* TO `isthmus`@`h`",
        "GRANT ALL PRIVILEGES ON `erp`.* TO `isthmus`@`h`"))
    assert check_binlog_server(_erp_source(config_root, variables), stack) == []


def test_each_setting_debezium_refuses_is_said_with_the_server_fix(config_root: Path,
                                                                    variables: dict[str, str]) -> None:
    company = BinlogServer(log_bin=True, binlog_format="MIXED", binlog_row_image="MINIMAL", grants=FULL.grants)
    connector = _erp_source(config_root, variables)
    formats, images = check_binlog_server(connector, company)
    assert formats.field == "database.hostname" and formats.file.name == "erp-source.yaml"
    assert "has binlog_format=MIXED, and Debezium refuses to start on anything but ROW" in formats.message
    assert "SET GLOBAL binlog_format=ROW" in formats.fix and "per session" in formats.fix
    assert "has binlog_row_image=MINIMAL" in images.message and "SET GLOBAL binlog_row_image=FULL" in images.fix
    (off,) = check_binlog_server(connector, BinlogServer(log_bin=False, binlog_format="ROW",
                                                         binlog_row_image="FULL", grants=FULL.grants))
    assert "has log_bin=OFF" in off.message


def test_every_missing_grant_is_said_at_once_and_no_password_hash(config_root: Path,
                                                                   variables: dict[str, str]) -> None:
    select_only = BinlogServer(log_bin=True, binlog_format="ROW", binlog_row_image="FULL", grants=(
        "GRANT USAGE ON *.* TO `tillcdc`@`127.0.0.1` IDENTIFIED BY PASSWORD '*B2E8E4A6'",
        "GRANT SELECT ON `erp`.* TO `tillcdc`@`127.0.0.1`"))
    (problem,) = check_binlog_server(_erp_source(config_root, variables), select_only)
    assert ("isthmus lacks RELOAD ON *.*, REPLICATION SLAVE ON *.*, BINLOG MONITOR or REPLICATION CLIENT or SUPER ON "
            "*.*, LOCK TABLES ON erp.*, INSERT ON erp.debezium_signal") in problem.message
    assert "empty offset" in problem.message and "B2E8" not in str(problem)
    assert "A MariaDB or MySQL server of your own" in problem.fix


def test_grants_on_every_database_or_all_privileges_count_and_a_role_is_not_judged() -> None:
    assert missing_grants(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], database="shop",
                          signal="shop.debezium_signal") == []
    assert missing_grants(["GRANT SELECT (id, name) ON `shop`.`t` TO `u`@`%`"], database="shop", signal=None) == [
        "RELOAD ON *.*", "REPLICATION SLAVE ON *.*", "BINLOG MONITOR or REPLICATION CLIENT or SUPER ON *.*",
        "SELECT ON shop.*", "LOCK TABLES ON shop.*"]
    # MySQL's replica privilege under its old name, and the client privilege
    assert missing_grants(["GRANT SELECT, RELOAD, LOCK TABLES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `u`@`%`",
                           "GRANT INSERT ON `shop`.* TO `u`@`%`"], database="shop", signal="shop.debezium_signal") == []
    # a role's privileges are not in SHOW GRANTS' lines: nothing is said rather than a wrong refusal
    assert missing_grants(["GRANT `cdc_role` TO `u`@`%`", "GRANT USAGE ON *.* TO `u`@`%`"], database="shop",
                          signal=None) == []
