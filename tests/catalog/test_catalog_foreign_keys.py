"""Discovery reads a MariaDB/MySQL namespace's foreign keys, also as the connector's read-only user (whom
referential_constraints shows nothing), and warns of each one that cascades: the engine writes the child rows it
changes to no binlog, so Debezium never sees them."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from streams.catalog import Catalog
from streams.catalog.model import ForeignKey
from streams.catalog.mysql import create_table_rules, foreign_keys
from streams.cli import mappings

KUNDE_ADRESSE = """CREATE TABLE `kunde_adresse` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `mandant` smallint(6) NOT NULL,
  `kdnr` int(10) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `fk_adr_kunde` (`mandant`,`kdnr`),
  CONSTRAINT `fk_adr_kunde` FOREIGN KEY (`mandant`, `kdnr`) REFERENCES `kunde` (`mandant`, `kdnr`) """ \
    """ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT `fk_plain` FOREIGN KEY (`id`) REFERENCES `other` (`id`)
) ENGINE=InnoDB"""

NOTE = """CREATE TABLE `note` (
  `m` smallint(6) DEFAULT NULL,
  CONSTRAINT `fk_note` FOREIGN KEY (`m`) REFERENCES `kunde` (`mandant`) ON DELETE SET NULL
) ENGINE=InnoDB"""


class _Cursor:
    """Answers discovery's queries as MariaDB 10.11 answers the connector's user: key_column_usage shows the foreign
    keys' columns, referential_constraints (the rules) only ``shown_rules``, SHOW CREATE TABLE every table."""

    def __init__(self, shown_rules: list[tuple[str, str, str, str]]) -> None:
        self.shown_rules = shown_rules
        self.rows: list[tuple[Any, ...]] = []
        self.shown_tables: list[str] = []

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> None:
        if "key_column_usage" in query:
            self.rows = [("kunde_adresse", "fk_adr_kunde", "mandant", "kunde", "mandant"),
                         ("kunde_adresse", "fk_adr_kunde", "kdnr", "kunde", "kdnr"),
                         ("kunde_adresse", "fk_plain", "id", "other", "id"),
                         ("note", "fk_note", "m", "kunde", "mandant")]
        elif "referential_constraints" in query:
            self.rows = list(self.shown_rules)
        elif query.startswith("SHOW CREATE TABLE"):
            table = query.rsplit("`.`", 1)[1].rstrip("`")
            self.shown_tables.append(table)
            self.rows = [(table, {"kunde_adresse": KUNDE_ADRESSE, "note": NOTE}[table])]
        else:
            raise AssertionError(f"unexpected query {query}")

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class _Connection:
    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    def cursor(self) -> _Cursor:
        return self._cursor


def test_rules_come_from_show_create_table_when_referential_constraints_shows_none() -> None:
    cursor = _Cursor(shown_rules=[])
    found = foreign_keys(_Connection(cursor), "isthmus_webshop")  # type: ignore[arg-type]
    assert found == (
        ForeignKey(name="fk_adr_kunde", table="kunde_adresse", columns=("mandant", "kdnr"), parent="kunde",
                   parent_columns=("mandant", "kdnr"), on_update="CASCADE", on_delete="CASCADE"),
        ForeignKey(name="fk_plain", table="kunde_adresse", columns=("id",), parent="other", parent_columns=("id",)),
        ForeignKey(name="fk_note", table="note", columns=("m",), parent="kunde", parent_columns=("mandant",),
                   on_update="RESTRICT", on_delete="SET NULL"))
    assert cursor.shown_tables == ["kunde_adresse", "note"]


def test_rules_referential_constraints_shows_are_taken_from_it() -> None:
    cursor = _Cursor(shown_rules=[("kunde_adresse", "fk_adr_kunde", "CASCADE", "RESTRICT"),
                                  ("kunde_adresse", "fk_plain", "NO ACTION", "NO ACTION"),
                                  ("note", "fk_note", "RESTRICT", "SET NULL")])
    found = foreign_keys(_Connection(cursor), "shop")  # type: ignore[arg-type]
    assert [(k.name, k.on_update, k.on_delete) for k in found] == [
        ("fk_adr_kunde", "CASCADE", "RESTRICT"), ("fk_plain", "NO ACTION", "NO ACTION"),
        ("fk_note", "RESTRICT", "SET NULL")]
    assert cursor.shown_tables == []


def test_show_create_table_rules_default_to_restrict() -> None:
    assert create_table_rules(KUNDE_ADRESSE) == {"fk_adr_kunde": ("CASCADE", "CASCADE"),
                                                 "fk_plain": ("RESTRICT", "RESTRICT")}
    assert create_table_rules("CONSTRAINT `a``b` FOREIGN KEY (`x`) REFERENCES `p` (`y`) ON UPDATE SET NULL") == {
        "a`b": ("SET NULL", "RESTRICT")}


CASCADE = ForeignKey(name="fk_adr_kunde", table="kunde_adresse", columns=("mandant", "kdnr"), parent="kunde",
                     parent_columns=("mandant", "kdnr"), on_update="CASCADE", on_delete="CASCADE")
PLAIN = ForeignKey(name="fk_plain", table="kunde_adresse", columns=("id",), parent="other", parent_columns=("id",),
                   on_update="NO ACTION", on_delete="RESTRICT")


def test_each_cascading_key_gets_one_warning_naming_table_columns_rule_and_fix() -> None:
    catalog = Catalog(system="webshop", engine="mariadb", namespace="isthmus_webshop", foreign_keys=(CASCADE, PLAIN))
    (warning,) = mappings.cascade_warnings(catalog)
    assert warning.startswith("WARNING: foreign key fk_adr_kunde of kunde_adresse (mandant, kdnr) references "
                              "kunde (mandant, kdnr) ON UPDATE CASCADE ON DELETE CASCADE: MariaDB writes")
    assert "never reach Kafka" in warning
    assert "an update of the key of a kunde row and a delete of a kunde row" in warning
    assert "fix: if kunde_adresse is captured, drop the cascade" in warning
    assert "explicitly in the same transaction" in warning


def test_postgresql_cascades_are_logged_so_no_warning() -> None:
    catalog = Catalog(system="crm", engine="postgresql", namespace="crm", foreign_keys=(CASCADE,))
    assert mappings.cascade_warnings(catalog) == []


@pytest.mark.parametrize("check", [False, True])
def test_discover_prints_the_warning_when_writing_and_checking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str], check: bool) -> None:
    live = Catalog(system="erp", engine="mariadb", namespace="erp", tables=MappingProxyType({}),
                   foreign_keys=(CASCADE,))
    monkeypatch.setattr(mappings, "connection_for", lambda *a, **k: "mariadb://reader@db:3306")
    monkeypatch.setattr(mappings, "discover", lambda spec, connection: live)
    output = tmp_path / "erp.columns.yaml"
    args = argparse.Namespace(system="erp", env="local", output=output, check=False, runtime=None)
    monkeypatch.setattr(mappings, "load_runtime", lambda _: argparse.Namespace(connector_variables={}))
    assert mappings.run_discover(args) == 0
    capsys.readouterr()
    args.check = check
    assert mappings.run_discover(args) == 0
    assert "WARNING: foreign key fk_adr_kunde of kunde_adresse" in capsys.readouterr().err
    assert "fk_adr_kunde" not in output.read_text(encoding="utf-8")  # not recorded: old files stay current
