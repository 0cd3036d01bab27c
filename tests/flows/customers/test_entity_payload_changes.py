"""A command's ``changed_fields`` name the fields of its payload, not of the record: a target route's
``only_changed`` and ``writes`` read them against the payload. A new user's club sent its members' fee
(``beitrag``, record side) as the account's ``credit_limit``: with record names the ERP route kept nothing of
the change, and the fee never arrived."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers.config import SystemRole
from streams.flows.customers.sync import payload_changes
from streams.mapping import load_mapping

pytestmark = pytest.mark.unit

PAYLOAD = """\
target: isthmus.canonical.Account
key: account_code
sources:
  customer:
    record: isthmus.canonical.Customer
    fields:
      account_code: customer_number
      crm_customer_number: customer_number
      name: name
      email: phone
      credit_limit: {compute: "credit_limit * 2"}
      billing_address: billing_address
"""


def test_changed_record_fields_become_the_payload_fields_they_feed(tmp_path: Path, schemas: SchemaStore) -> None:
    path = tmp_path / "account.yaml"
    path.write_text(PAYLOAD, encoding="utf-8")
    role = SystemRole(name="erp", writes={}, payload=load_mapping(path, schemas=schemas.schemas))
    assert payload_changes(role, ("phone", "credit_limit")) == ("email", "credit_limit")
    assert payload_changes(role, ("billing_address",)) == ("billing_address",)
    assert payload_changes(role, ("customer_number",)) == ("account_code", "crm_customer_number")
    assert payload_changes(role, ("blocked",)) == ("blocked",), "a field no binding reads keeps its name"
    assert payload_changes(SystemRole(name="crm", writes={}), ("phone",)) == ("phone",), "no payload mapping"
