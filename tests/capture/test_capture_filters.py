"""Which tables a connector captures, read as Debezium reads its include and exclude lists."""

from __future__ import annotations

import pytest

from streams.capture.filters import CaptureFilter


def _filter(engine: str = "mariadb", **config: object) -> CaptureFilter:
    found = CaptureFilter.of({key.replace("_", "."): value for key, value in config.items()}, engine)
    assert found is not None
    return found


def test_a_table_include_list_matches_whole_qualified_names_ignoring_case() -> None:
    capture = _filter(table_include_list="vertrieb.kunden, vertrieb.auftrag_.*")
    assert capture.captures("vertrieb", "kunden") and capture.captures("Vertrieb", "KUNDEN")
    assert capture.captures("vertrieb", "auftrag_pos")
    assert not capture.captures("vertrieb", "kunden_status")  # a prefix is not a match
    assert not capture.captures("other", "kunden")


def test_a_list_may_be_yaml_and_exclusions_apply_without_an_include_list() -> None:
    assert _filter(table_include_list=["shop.orders", "shop.lines"]).captures("shop", "lines")
    capture = _filter(table_exclude_list="shop.audit_.*")
    assert capture.captures("shop", "orders") and not capture.captures("shop", "audit_log")
    assert _filter().captures("anything", "at_all")


def test_namespace_lists_are_the_engines_own() -> None:
    mariadb = _filter("mariadb", database_include_list="erp", schema_include_list="nothing")
    assert mariadb.captures("erp", "accounts") and not mariadb.captures("shop", "accounts")
    postgres = _filter("postgresql", schema_include_list="public,sales", database_include_list="ignored")
    assert postgres.captures("sales", "orders") and not postgres.captures("audit", "orders")
    assert not _filter("postgresql", schema_exclude_list="audit").captures("audit", "orders")


@pytest.mark.parametrize("listed", ["{{tables}}", "${file:/x:tables}", "shop.(unclosed"])
def test_a_list_that_cannot_be_read_exactly_gives_no_filter(listed: str) -> None:
    assert CaptureFilter.of({"table.include.list": listed}, "mariadb") is None
    assert CaptureFilter.of({}, "oracle") is None
