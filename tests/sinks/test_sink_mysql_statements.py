"""The MariaDB/MySQL SQL target's statements: upsert on a (composite) key, the idempotency key claimed with
a no-op update (affected rows 0 for a repeat), names quoted."""

from __future__ import annotations

import pytest

from streams.sinks.adapters.mysql import (
    claim_statement,
    delete_statement,
    keys_table_ddl,
    quote,
    select_statement,
    time_columns,
    update_statement,
    upsert_statement,
    wall_time,
    wall_times,
)
from streams.sinks.adapters.sql import Prepared
from streams.sinks.adapters.sql_children import ChildRows


def test_names_are_backquoted_per_part_with_backquotes_doubled() -> None:
    assert quote("isthmus_ledger.debitor") == "`isthmus_ledger`.`debitor`"
    assert quote("odd`name") == "`odd``name`"


def test_an_upsert_on_a_composite_key_updates_only_the_other_columns() -> None:
    statement = upsert_statement("ledger.debitor", ["company_code", "debitor_no", "title", "is_live"],
                                 ("company_code", "debitor_no"))
    assert statement == (
        "INSERT INTO `ledger`.`debitor` (`company_code`, `debitor_no`, `title`, `is_live`) VALUES (%s, %s, %s, %s) "
        "ON DUPLICATE KEY UPDATE `title` = VALUES(`title`), `is_live` = VALUES(`is_live`)")


def test_an_upsert_of_key_columns_only_is_still_valid_and_changes_nothing() -> None:
    """Not ``sku = VALUES(sku)``: that would rename a row the key's collation takes for the command's ('acme' for
    'ACME') to the command's text, and the row read back would look like the command's own."""
    assert upsert_statement("t", ["sku"], ("sku",)).endswith("ON DUPLICATE KEY UPDATE `sku` = `sku`")


def test_a_key_is_claimed_once_and_a_repeat_affects_no_row() -> None:
    statement = claim_statement("isthmus_sink_keys")
    assert statement.startswith("INSERT INTO `isthmus_sink_keys` (idem_key, command_id, target_table, entity_key, "
                                "status) VALUES (%s, %s, %s, %s, 0)")
    assert statement.endswith("ON DUPLICATE KEY UPDATE idem_key = idem_key")
    assert "IGNORE" not in statement, "INSERT IGNORE would also hide real errors"


@pytest.mark.parametrize("build, verb", [(select_statement, "SELECT * FROM"), (delete_statement, "DELETE FROM")])
def test_rows_are_found_by_every_key_column(build: object, verb: str) -> None:
    assert callable(build)
    assert build("db.t", ("a", "b")) == f"{verb} `db`.`t` WHERE `a` = %s AND `b` = %s"


def test_the_keys_table_holds_the_answer_with_the_key() -> None:
    ddl = keys_table_ddl("db.keys")
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `db`.`keys` (idem_key VARCHAR(255) NOT NULL PRIMARY KEY")
    assert "status INT NOT NULL" in ddl and "response LONGTEXT" in ddl


def test_an_update_sets_the_given_columns_of_the_row_with_that_key() -> None:
    assert update_statement("db.party", ["credit", "hold"], ("company", "no")) == (
        "UPDATE `db`.`party` SET `credit` = %s, `hold` = %s WHERE `company` = %s AND `no` = %s")


def test_an_update_of_key_columns_only_changes_nothing() -> None:
    assert update_statement("db.party", [], ("company", "no")) == (
        "UPDATE `db`.`party` SET `company` = `company` WHERE `company` = %s AND `no` = %s")


@pytest.mark.parametrize(("sent", "written"), [
    ("2026-05-01T08:00:00+00:00", "2026-05-01 08:00:00"),
    ("2026-05-01T10:15:30.250000+02:00", "2026-05-01 08:15:30.250000"),
    ("2026-05-01T08:00:00Z", "2026-05-01 08:00:00"),
    ("2026-10-25T02:30:00", "2026-10-25T02:30:00"),  # a local time has no offset: as it is
    ("2026-05-01", "2026-05-01"), ("Müller", "Müller"), (None, None), (17, 17), ("2026-13-01T00:00:00+00:00",
                                                                               "2026-13-01T00:00:00+00:00"),
])
def test_an_instant_goes_in_as_its_utc_wall_time(sent: object, written: object) -> None:
    assert wall_time(sent) == written


def test_only_the_time_columns_of_the_row_and_its_children_are_converted() -> None:
    class Spec:
        table = "lines"

    route = type("Route", (), {"table": "orders"})()
    at = "2026-05-01T10:00:00+02:00"
    prepared = Prepared(route, {"id": 1, "placed_at": at, "note": at},  # type: ignore[arg-type]
                        (ChildRows(spec=Spec(), rows=({"shipped": at, "text": at},)),))  # type: ignore[arg-type]
    times = {"orders": time_columns([{"name": "placed_at", "type": "datetime"}, {"name": "note", "type": "varchar"}]),
             "lines": time_columns([{"name": "shipped", "type": "TIMESTAMP"}])}
    converted = wall_times(prepared, times)
    assert converted.row == {"id": 1, "placed_at": "2026-05-01 08:00:00", "note": at}
    assert converted.children[0].rows == ({"shipped": "2026-05-01 08:00:00", "text": at},)
