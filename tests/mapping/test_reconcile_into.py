"""``reconcile_into`` (an entity's fold reconciles into its own record and stamps, issue 17) gives what
``reconcile`` gives, changing the dicts it is given in place and no others."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from test_mapping_reconcile import CRM, ERP, POLICIES, T0

from streams.mapping import Stamp, reconcile
from streams.mapping.reconcile import reconcile_into

CURRENT = {"name": "Acme", "credit_limit": Decimal("100.00"), "phone": "1",
           "billing_address": {"line1": "1 Road", "line2": "Dock 1", "city": "Berlin"}}
STAMPS = {name: Stamp(system=CRM if name != "credit_limit" else ERP, commit_time=T0) for name in CURRENT}
CASES = [
    (ERP, {"name": "Acme ERP", "credit_limit": Decimal("200.00"), "phone": "2",
           "billing_address": {"line1": "2 Road", "city": "Hamburg"}}, None),
    (CRM, {"name": "Acme CRM", "phone": "1", "billing_address": {"line1": "1 Road", "city": "Berlin"}}, None),
    (ERP, {"phone": "3"}, {"phone": "1"}),
    (CRM, {"credit_limit": None, "name": None}, None),
]


@pytest.mark.parametrize(("system", "incoming", "base"), CASES)
@pytest.mark.parametrize("has_record", [True, False])
def test_into_gives_what_reconcile_gives(system: str, incoming: dict[str, Any], base: dict[str, Any] | None,
                                         has_record: bool) -> None:
    when = T0 + dt.timedelta(seconds=5)
    given: dict[str, Any] = {"entity_type": "isthmus.canonical.Customer", "entity_key": "C-1",
                             "incoming": incoming, "asserted": tuple(incoming), "base": base, "system": system,
                             "commit_time": when, "policies": POLICIES, "settled_at": when}
    expected = reconcile(current=dict(CURRENT) if has_record else None,
                         provenance=dict(STAMPS) if has_record else {}, **given)
    record, stamps = (dict(CURRENT), dict(STAMPS)) if has_record else ({}, {})
    changed, conflicts, rejected = reconcile_into(record, stamps, has_record=has_record, **given)
    assert (record, stamps) == (dict(expected.record), dict(expected.provenance))
    assert list(record) == list(expected.record)  # in the same order
    assert (changed, conflicts, rejected) == (expected.changed, expected.conflicts, expected.rejected)
    assert CURRENT["billing_address"] == {"line1": "1 Road", "line2": "Dock 1", "city": "Berlin"}  # not changed
