"""A SQL target's key is compared as the row holds it: a command whose write reached a row held under another key
text (the key column's collation pads with spaces or ignores case) is refused, naming the table, the column's
collation and the fix; the database's own rows are the integration tests' (test_sink_sql_keys_integration.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.sinks.adapters.sql import table_facts
from streams.sinks.adapters.sql_children import ChildRows
from streams.sinks.adapters.sql_keys import TextColumn, key_held_as_other, lines_held_as_other, text_columns
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import SqlRoute, TargetConfig

pytestmark = pytest.mark.unit


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    path = tmp_path / "ledger.yaml"
    path.write_text(textwrap.dedent("""\
        system: ledger
        adapter: sql
        sql: {database: ledger}
        routes:
          - payload_type: SalesOrder
            operation: create
            table: ledger.org
            key: [tenant_id, org_code]
            columns: {tenant_id: {value: 1}, org_code: order_number, name: currency}
            children:
              - table: ledger.org_site
                from: lines
                parent_key: {tenant_id: tenant_id, org_code: org_code}
                key: [tenant_id, org_code, site]
                columns: {site: sku, city: warehouse_code}
        """), encoding="utf-8")
    return load_target(path, writable=["ledger"])


def route(config: TargetConfig) -> SqlRoute:
    (found,) = config.sql_routes()
    return found


MARIADB_ORG = [{"name": "tenant_id", "type": "int", "scale": 0, "udt": "int(11)", "collation": None},
               {"name": "org_code", "type": "varchar", "scale": None, "udt": "varchar(32)", "collation": "utf8mb4_bin"},
               {"name": "name", "type": "varchar", "scale": None, "udt": "varchar(80)",
                "collation": "utf8mb4_general_ci"}]
TEXTS = text_columns(MARIADB_ORG)


def test_start_learns_the_text_columns_with_their_type_and_collation(config: TargetConfig) -> None:
    learnt = text_columns(MARIADB_ORG)
    assert learnt == {"org_code": TextColumn(shown="varchar(32) collate utf8mb4_bin", padded=False),
                      "name": TextColumn(shown="varchar(80) collate utf8mb4_general_ci", padded=False)}
    postgres = [{"name": "code", "type": "USER-DEFINED", "udt": "citext", "collation": None},
                {"name": "site", "type": "character", "udt": "bpchar", "collation": None},
                {"name": "label", "type": "text", "udt": "text", "collation": "case_insensitive"},
                {"name": "status", "type": "USER-DEFINED", "udt": "org_status", "collation": None},
                {"name": "at", "type": "date", "udt": "date", "collation": None}]
    assert text_columns(postgres) == {"code": TextColumn("citext", False), "site": TextColumn("bpchar", True),
                                      "label": TextColumn("text collate case_insensitive", False)}
    assert table_facts(config, {"ledger.org": MARIADB_ORG}).texts["ledger.org"] == TEXTS


def test_a_row_held_under_the_commands_key_text_is_the_commands(config: TargetConfig) -> None:
    sent = {"tenant_id": 1, "org_code": "ORG0007 ", "name": "Twin"}
    assert key_held_as_other("ledger", route(config), sent, {**sent, "name": "Old"}, TEXTS) is None
    assert key_held_as_other("ledger", route(config), {**sent, "tenant_id": "1"}, sent, TEXTS) is None, \
        "a number is the database's to compare"
    assert key_held_as_other("ledger", route(config), sent, None, TEXTS) is None, "no row reached"


def test_a_row_held_under_another_key_text_is_refused_naming_the_collation_and_the_fix(config: TargetConfig) -> None:
    sent = {"tenant_id": 1, "org_code": "ORG0007 ", "name": "Twin"}
    refused = key_held_as_other("ledger", route(config), sent, {**sent, "org_code": "ORG0007"}, TEXTS)
    assert refused is not None and refused.kind == "permanent" and refused.error_type == "KeyHeldAsOther"
    assert refused.reason == (
        "the key collation of ledger.org takes tenant_id=1, org_code='ORG0007 ' and the row it holds as tenant_id=1, "
        "org_code='ORG0007' for one row: this command would upsert the row of another key, so nothing was written "
        "(target ledger, table ledger.org, key tenant_id, org_code (org_code varchar(32) collate utf8mb4_bin)). "
        "Fix: make the source's keys unique under the target's collation: trim or lowercase them in the mapping, "
        "the key's field and the key computed from it in every source (transform: [trim, lower]; compute: "
        "lower(trim(...))), or correct the source's rows; or give the column a collation that tells the texts "
        "apart; then replay the dead letter")
    ci = key_held_as_other("ledger", route(config), {**sent, "org_code": "acme"}, {**sent, "org_code": "ACME"}, TEXTS)
    assert ci is not None and "org_code='acme' and the row it holds as tenant_id=1, org_code='ACME'" in ci.reason


def test_a_padded_column_holds_its_text_without_the_padding(config: TargetConfig) -> None:
    padded = {"org_code": TextColumn("bpchar", padded=True)}
    sent = {"tenant_id": 1, "org_code": "W1"}
    assert key_held_as_other("ledger", route(config), sent, {**sent, "org_code": "W1  "}, padded) is None
    assert key_held_as_other("ledger", route(config), {**sent, "org_code": "W1 "}, {**sent, "org_code": "W1  "},
                             padded) is not None, "char(4) cannot hold 'W1 ': its capture says 'W1'"


def lines(config: TargetConfig, *sites: str) -> list[dict[str, object]]:
    (spec,) = route(config).children
    return ChildRows(spec=spec, rows=tuple({"site": s, "city": "Lyon"} for s in sites)).under(
        {"tenant_id": 1, "org_code": "ORG0007"})


def test_lines_held_as_sent_pass_and_lines_a_collation_merged_are_refused(config: TargetConfig) -> None:
    (spec,) = route(config).children
    texts = {"org_code": TEXTS["org_code"], "site": TextColumn("varchar(8) collate utf8mb4_general_ci", False)}
    held = [{k: row[k] for k in spec.key} for row in lines(config, "a", "b")]
    assert lines_held_as_other("ledger", spec, lines(config, "b", "a"), held, texts) is None
    merged = lines_held_as_other("ledger", spec, lines(config, "a", "A"), held[:1], texts)
    assert merged is not None and merged.error_type == "KeyHeldAsOther"
    assert merged.reason.startswith(
        "the key collation of ledger.org_site takes lines of lines with different key texts for one row: not held "
        "as sent: (org_code='ORG0007', site='A'); held instead: none; so nothing was written (target ledger, "
        "table ledger.org_site, key tenant_id, org_code, site (org_code varchar(32) collate utf8mb4_bin, site "
        "varchar(8) collate utf8mb4_general_ci)). Fix: make the source's keys unique")
    renamed = lines_held_as_other("ledger", spec, lines(config, "A"), held[:1], texts)
    assert renamed is not None and "not held as sent: (org_code='ORG0007', site='A'); held instead: " \
        "(org_code='ORG0007', site='a')" in renamed.reason
    assert lines_held_as_other("ledger", spec, lines(config, "a"), [], {}) is None, "no text key: numbers only"
