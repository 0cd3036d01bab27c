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
    update_statement,
    upsert_statement,
)


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
