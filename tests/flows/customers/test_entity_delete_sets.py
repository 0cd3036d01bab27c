"""A row that leaves a source whose delete sets fields (``on_delete: {set: {email: null}}``, as the Tryton
example's e-mail contact mechanism) leaves its system holding those values. The flow's mirror of that system must
say so: else the system is taken to keep its old value, which is then audited as a null it ``cannot_clear``
(a difference that does not exist), and that old value set again in the other system is never sent."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from customer_harness import SETTLED_AT, Harness
from test_entity_nulls_and_clocks import NUMBER, _linked

from streams.codecs.debezium.envelope import Op
from streams.flows.commands import Cause
from streams.flows.customers.state import CustomerState
from streams.flows.customers.sync import decide, fold
from streams.mapping import MappedChange

pytestmark = pytest.mark.unit


def _erp_email_row_deleted(harness: Harness, at: dt.datetime) -> MappedChange:
    """The ERP's row that carried the e-mail deleted, by a source whose delete sets ``email: null``."""
    mapping = harness.flow.config.record
    source = next(s for s in mapping.sources if s.system == "erp")
    return MappedChange(mapping=mapping, source=dataclasses.replace(source, on_delete={"email": None}),
                        system="erp", key=NUMBER, deleted=True, values={"customer_number": NUMBER, "email": None},
                        asserted=("email",), base=None, commit_time=at)


def test_a_delete_that_sets_a_field_is_what_the_system_then_holds(harness: Harness) -> None:
    linked = _linked(harness)
    flow = linked.flow
    state = CustomerState.from_json(NUMBER, linked.stored(NUMBER), flow.config)
    assert state.mirror("erp").expected("email") == "a@acme.cn"
    change = _erp_email_row_deleted(linked, SETTLED_AT)
    fold(state, change, observed=dict(change.values), op=Op.DELETE, settled_at=SETTLED_AT)
    assert state.mirror("erp").expected("email") is None

    # The CRM's owner sets the e-mail the ERP had before: the ERP, which now holds none, gets it.
    state.record["email"] = "a@acme.cn"
    cause = Cause(system="crm", connector="crm", database="crm", table="customers", row_key="id=1",
                  commit_time=SETTLED_AT)
    audit: list[Mapping[str, Any]] = []
    commands = decide(state, cause, context=flow.context, named=flow.named, audit=audit, settled_at=SETTLED_AT)
    assert [(c.target, c.changed_fields) for c in commands] == [("erp", ("email",))] and audit == []
