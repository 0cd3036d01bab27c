"""A SQL route writes a record or a list of the payload whole, as JSON text, into one column: `{from: X, json: true}`.

flows/README.md ("Child lists in a target") has an entity flow keep a child list in a JSON column of a target and map
it back with `parse_json`; a new user's trial did that with a SQL target (a product's per-site stock into a jsonb
column) and was refused at load ("stock is a record or array, not a single value"), with no way to say it: only an
HTTP API of their own could write it. Now the column says `json: true`, and the value goes in as JSON text (a
decimal as the text the payload holds, so `parse_json` reads the echo back as sent)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streams.sinks.adapters.sql import prepare
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Failed
from streams.sinks.records import SinkCommand

ROUTE = """\
system: club
adapter: sql
routes:
  - payload_type: Customer
    operation: update
    action: update
    table: mitglied
    key: [nr]
    only_changed: true
    columns: {{nr: customer_number, {columns}}}
"""


def _target(tmp_path: Path, columns: str) -> TargetConfig:
    path = tmp_path / "club.yaml"
    path.write_text(textwrap.dedent(ROUTE.format(columns=columns)), encoding="utf-8")
    return load_target(path, writable=["club"])


def _row(config: TargetConfig, payload: dict[str, Any], changed: tuple[str, ...] = ()) -> dict[str, Any]:
    command = SinkCommand(command_id="c", idempotency_key="k", target="club", operation="update",
                          entity_type="isthmus.canonical.Customer", entity_key="M-1",
                          payload_type="isthmus.canonical.Customer", changed_fields=changed,
                          payload={"customer_number": "M-1", "name": "Anna 🧪", **payload})
    prepared = prepare(config, command)
    assert not isinstance(prepared, Failed), prepared
    return dict(prepared[1])


CONTACTS = [{"crm_contact_id": 7, "first_name": "Zoë", "last_name": "Berg 🙂", "email": None}]
ADDRESS = {"kind": "billing", "line1": "Hauptstr. 1", "city": "Köln", "postal_code": "50667", "country": "DE"}


def test_a_list_and_a_record_go_in_as_json_text(tmp_path: Path) -> None:
    config = _target(tmp_path, "leute: {from: contacts, json: true}, adresse: {from: billing_address, json: true}")
    row = _row(config, {"contacts": CONTACTS, "billing_address": ADDRESS})
    assert set(row) == {"nr", "leute", "adresse"}
    assert isinstance(row["leute"], str) and json.loads(row["leute"]) == CONTACTS
    assert json.loads(row["adresse"]) == ADDRESS and "Köln" in row["adresse"]  # text as it is, not \\u escapes


def test_a_null_writes_null_and_only_changed_writes_the_column_when_its_field_changed(tmp_path: Path) -> None:
    config = _target(tmp_path, "leute: {from: contacts, json: true}, name: name")
    assert _row(config, {"contacts": None}) == {"nr": "M-1", "leute": None, "name": "Anna 🧪"}
    assert _row(config, {"contacts": CONTACTS}, ("name",)) == {"nr": "M-1", "name": "Anna 🧪"}
    assert json.loads(_row(config, {"contacts": []}, ("contacts",))["leute"]) == []


@pytest.mark.parametrize(("columns", "says"), [
    ("leute: contacts", "contacts is a record or array, not a single value; fix: name one of its fields with a "
                        "dotted path, e.g. billing_address.city, or write it whole as JSON text into a JSON or text "
                        "column: {from: contacts, json: true}"),
    ("leute: {from: contacts, json: true, each: {id: crm_contact_id}}",
     "json sends the field as it is, as JSON text; each builds a list of its own"),
    ("leute: {from: kontakte, json: true}", "no field 'kontakte'"),
])
def test_what_cannot_be_written_is_refused_at_load_saying_how(tmp_path: Path, columns: str, says: str) -> None:
    with pytest.raises(TargetConfigError) as refused:
        _target(tmp_path, columns)
    assert says in str(refused.value)
