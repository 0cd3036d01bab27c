"""Cleaning rules and settings, without Kafka or a database (the ERP local-time conversion is the canonical
mappings', tested in tests/flows/canonical)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from streams.warehouse import cleaning
from streams.warehouse.exceptions import RowRejected, WarehouseSettingsError
from streams.warehouse.settings import WarehouseSettings

UTC = dt.UTC


def test_text_is_trimmed_and_empty_becomes_null_or_rejected() -> None:
    assert cleaning.text("  Acme Ltd \t", "name") == "Acme Ltd"
    assert cleaning.text("   ", "name") is None
    with pytest.raises(RowRejected, match="name is empty"):
        cleaning.text("  ", "name", required=True)


def test_email_is_trimmed_and_lower_cased_and_nonsense_rejected() -> None:
    assert cleaning.email("  Jane.Doe@Example.COM ", "email") == "jane.doe@example.com"
    assert cleaning.email(None, "email") is None
    with pytest.raises(RowRejected, match="email 'not-an-address' is not an e-mail address"):
        cleaning.email("not-an-address", "email")


@pytest.mark.parametrize(("raw", "clean"), [
    ("+1 (555) 010-0100", "+15550100100"),
    ("  021-6888 1234 ", "02168881234"),
    ("+86.138.0013.8000", "+8613800138000"),
])
def test_phone_keeps_digits_and_a_leading_plus(raw: str, clean: str) -> None:
    assert cleaning.phone(raw, "phone") == clean


@pytest.mark.parametrize("raw", ["call me", "555-CALL-NOW", "12-3", "1+234567"])
def test_phone_with_letters_or_too_few_digits_is_rejected(raw: str) -> None:
    with pytest.raises(RowRejected, match="phone"):
        cleaning.phone(raw, "phone")


def test_money_must_be_exact() -> None:
    assert cleaning.number(Decimal("10.05"), "amount") == Decimal("10.05")
    with pytest.raises(RowRejected, match="not an exact decimal"):
        cleaning.number(10.05, "amount")
    with pytest.raises(RowRejected, match="amount is missing"):
        cleaning.number(None, "amount")


def test_date_key_is_the_utc_date() -> None:
    assert cleaning.date_key(dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))) == 20240311


def test_settings_name_every_bad_value() -> None:
    with pytest.raises(WarehouseSettingsError) as caught:
        WarehouseSettings.from_env({"ISTHMUS_WAREHOUSE_SCHEMA": "Drop Table",
                                                     "ISTHMUS_WAREHOUSE_BATCH": "0",
                                                     "ISTHMUS_CANONICAL_PREFIX": "no spaces please"})
    message = str(caught.value)
    for needle in ("ISTHMUS_WAREHOUSE_SCHEMA: 'Drop Table'", "ISTHMUS_WAREHOUSE_BATCH: '0'",
                   "ISTHMUS_CANONICAL_PREFIX: 'no spaces please'"):
        assert needle in message
    good = WarehouseSettings.from_env({"ISTHMUS_WAREHOUSE_CLIENT_PREFIX": "KH-"})
    assert (good.schema_name, good.client_code_prefix, good.canonical_prefix) == ("dwh", "KH-", "isthmus.canonical")
