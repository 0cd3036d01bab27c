"""A SQL route's column may read a field inside a record of the payload by a dotted path, as an HTTP body does (a new
user's trial wrote `first_name: name_parts.given_name` into a MariaDB table and found it worked, documented for
HTTP bodies only): the path is checked against the payload's schema at load, a null record on the way writes NULL,
and ``only_changed`` writes the column when the top-level field it reads changed."""

from __future__ import annotations

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
    columns: {{nr: customer_number, tel: phone, ort: billing_address.city, plz: billing_address.postal_code{more}}}
"""


def _target(tmp_path: Path, more: str = "") -> TargetConfig:
    path = tmp_path / "club.yaml"
    path.write_text(textwrap.dedent(ROUTE.format(more=more)), encoding="utf-8")
    return load_target(path, writable=["club"])


def _row(config: TargetConfig, payload: dict[str, Any], changed: tuple[str, ...] = ()) -> dict[str, Any]:
    command = SinkCommand(command_id="c", idempotency_key="k", target="club", operation="update",
                          entity_type="isthmus.canonical.Customer", entity_key="M-1",
                          payload_type="isthmus.canonical.Customer", changed_fields=changed,
                          payload={"customer_number": "M-1", "phone": "+49300000125", **payload})
    prepared = prepare(config, command)
    assert not isinstance(prepared, Failed), prepared
    return dict(prepared[1])


def test_a_dotted_path_reads_inside_a_record_and_a_null_record_writes_null(tmp_path: Path) -> None:
    config = _target(tmp_path)
    address = {"kind": "billing", "line1": "Hauptstr. 1", "city": "Köln", "postal_code": None, "country": "DE"}
    assert _row(config, {"billing_address": address}) == {
        "nr": "M-1", "tel": "+49300000125", "ort": "Köln", "plz": None}
    assert _row(config, {"billing_address": None}) == {"nr": "M-1", "tel": "+49300000125", "ort": None, "plz": None}


def test_only_changed_writes_the_columns_of_a_changed_record(tmp_path: Path) -> None:
    config = _target(tmp_path)
    address = {"kind": "billing", "line1": "Hauptstr. 1", "city": "Köln", "postal_code": "50667", "country": "DE"}
    assert _row(config, {"billing_address": address}, ("billing_address",)) == {
        "nr": "M-1", "ort": "Köln", "plz": "50667"}
    assert _row(config, {"billing_address": address}, ("phone",)) == {"nr": "M-1", "tel": "+49300000125"}


@pytest.mark.parametrize(("more", "says"), [
    (", x: billing_address.town", "billing_address has no field 'town'"),
    (", x: shipping_address", "shipping_address is a record or array, not a single value"),
    (", x: contacts.0.email", "not a record, so it has no field '0'"),
])
def test_a_path_the_payload_cannot_give_a_column_is_refused_at_load(tmp_path: Path, more: str, says: str) -> None:
    with pytest.raises(TargetConfigError, match=says):
        _target(tmp_path, more)
