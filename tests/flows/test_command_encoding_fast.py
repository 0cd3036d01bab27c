"""The command's payload JSON (orjson) and id (RFC 4122 name-based UUID) against the standard library's forms
they replaced: the same JSON values, the same text where nothing but floats differs, the same ids."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from streams.flows.commands import (
    _ID_NAMESPACE,
    Cause,
    Command,
    PayloadNotJson,
    _json_default,
    command_uuid,
    payload_json,
)

pytestmark = pytest.mark.unit

BERLIN = dt.timezone(dt.timedelta(hours=1))


def _stdlib(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


PAYLOADS: list[dict[str, Any]] = [
    {"name": "Ünïcødé Ελληνικά 中文 عربي", "b": None, "a": 1, "z": True},
    {"amount": Decimal("12.3400"), "negative": Decimal("-0.001"), "big": Decimal("1E+30")},
    {"at": dt.datetime(2026, 10, 25, 2, 30, 15, 123456, tzinfo=BERLIN), "naive": dt.datetime(2026, 1, 1, 0, 0),
     "day": dt.date(2026, 2, 28), "utc": dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)},
    {"nested": {"y": [1, 2, {"k": "v"}], "x": MappingProxyType({"b": 2, "a": 1})}, "tuple": (1, "two"),
     "set": frozenset({"only"})},
    {"control": "tab\there\nnew \u2028 line \x00 nul \"quoted\" \\ back", "emoji": "🙂", "empty": ""},
    {"ints": [0, -1, 2**63 - 1, -(2**63)]},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_json_is_the_standard_librarys_text(payload: dict[str, Any]) -> None:
    assert payload_json(payload) == _stdlib(payload)


def test_payload_json_of_a_mapping_that_is_not_a_dict() -> None:
    payload = MappingProxyType({"b": Decimal("1.5"), "a": "x"})
    assert payload_json(payload) == '{"a":"x","b":"1.5"}'


@pytest.mark.parametrize("amount, text", [
    (Decimal("1E-7"), "0.0000001"), (Decimal("1.000E-7"), "0.0000001000"), (Decimal("0E-7"), "0.0000000"),
    (Decimal("1E+3"), "1000"), (Decimal("-12.50"), "-12.50"), (Decimal("123456789012345678901234.5"),
                                                               "123456789012345678901234.5")])
def test_decimals_are_written_in_plain_notation_with_their_scale(amount: Decimal, text: str) -> None:
    """``str(Decimal)`` wrote a NUMERIC's 0.0000001 as "1E-7"; the same value, exactly, in plain notation."""
    written = json.loads(payload_json({"amount": amount}))["amount"]
    assert written == text and Decimal(written) == amount


def test_floats_are_the_same_numbers() -> None:
    payload = {"small": 1e-05, "large": 1e22, "plain": 0.1, "neg": -2.5e-300, "whole": 2.0}
    assert json.loads(payload_json(payload)) == payload


def test_what_orjson_refuses_goes_the_standard_way() -> None:
    payload = {"huge": 2**70, "amount": Decimal("1")}
    assert payload_json(payload) == _stdlib(payload) == '{"amount":"1","huge":1180591620717411303424}'


def test_bytes_are_written_as_base64_text_as_kafka_connect_writes_them() -> None:
    """A BYTEA column's value (issue: every command carrying one was dead-lettered "bytes is not JSON
    serialisable"), a TIME's and a UUID's, by orjson and by the standard library's way alike."""
    payload = {"photo": b"\x00\xffPNG", "at": dt.time(12, 30, 5), "id": uuid.UUID(int=1)}
    assert payload_json(payload) == ('{"at":"12:30:05","id":"00000000-0000-0000-0000-000000000001",'
                                     '"photo":"AP9QTkc="}')
    assert payload_json({**payload, "huge": 2**70}) == _stdlib({**payload, "huge": 2**70})


def test_a_value_neither_writes_names_its_field_path_and_the_entity_and_the_fix() -> None:
    cause = Cause(system="desk", connector="desk", database="desk", table="ticket", row_key="id=1",
                  commit_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), lsn=42)
    command = Command(target="feldservice", operation="update", entity_type="trial.canonical.Ticket",
                      entity_key="T-2026-000001", payload_type="trial.canonical.Auftrag",
                      payload={"ok": 1, "lines": [{"sku": "a"}, {"sku": object()}]}, cause=cause)
    with pytest.raises(PayloadNotJson) as refused:
        command.to_avro()
    message = str(refused.value)
    assert "lines.1.sku (object)" in message
    assert "the feldservice Auftrag.update command for entity T-2026-000001" in message
    assert "Fix: convert the field in the mapping" in message


@pytest.mark.parametrize("key", ["erp.Account.create.0123abcd", "", "crm.Customer.update.ü中", "x" * 500])
def test_command_uuid_is_uuid5(key: str) -> None:
    assert command_uuid(key) == str(uuid.uuid5(_ID_NAMESPACE, key))


def test_a_command_names_a_record_of_any_namespace_but_always_a_full_name() -> None:
    """A record of one's own (ISTHMUS_SCHEMAS_DIR) has a namespace of its own; a bare name is refused."""
    cause = Cause(system="crm", connector="crm", database="crm", table="customers", row_key="id=1",
                  commit_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    own = Command(target="erp", operation="create", entity_type="club.canonical.Mitglied", entity_key="M-1",
                  payload_type="club.canonical.MitgliedAccount", payload={}, cause=cause)
    assert own.kind == "MitgliedAccount.create"
    with pytest.raises(ValueError, match=r"Command.entity_type 'Mitglied' must be a full canonical name"):
        Command(target="erp", operation="create", entity_type="Mitglied", entity_key="M-1",
                payload_type="club.canonical.MitgliedAccount", payload={}, cause=cause)
