"""Every command the flow produces has a route in targets/*.yaml, and the sinks' own rendering turns it into
the request the reference API expects (only the changed fields for an ``only_changed`` route)."""

from __future__ import annotations

from pathlib import Path

import pytest
from customer_harness import Harness

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.mapping import placeholders, render_fields, spec_references
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import HttpRoute, TargetConfig

TARGETS = Path(__file__).resolve().parents[3] / "targets"


@pytest.fixture(scope="module")
def targets(schemas: SchemaStore) -> dict[str, TargetConfig]:
    return {system: load_target(TARGETS / f"{system}.yaml", schemas.schemas) for system in ("crm", "erp")}


def _route(targets: dict[str, TargetConfig], target: str, payload_type: str, operation: str) -> HttpRoute:
    route = targets[target].route(payload_type, operation)
    assert isinstance(route, HttpRoute), f"targets/{target}.yaml has no route for {payload_type} {operation}"
    return route


def test_fields_the_flow_writes_are_fields_the_routes_send(harness: Harness,
                                                           targets: dict[str, TargetConfig]) -> None:
    written = harness.flow.config.written
    erp = _route(targets, "erp", "isthmus.canonical.Account", "update")
    crm = _route(targets, "crm", "isthmus.canonical.Customer", "update")
    crm_xref = _route(targets, "crm", "isthmus.canonical.CustomerAccountXref", "update")
    assert erp.body is not None and crm.body is not None and crm_xref.body is not None
    sent_by_erp = {p.split(".")[0] for p in spec_references(erp.body)}
    sent_by_crm = {p.split(".")[0] for p in spec_references(crm.body)} | set(spec_references(crm_xref.body))
    assert set(written["erp"].holds) <= sent_by_erp
    assert set(written["crm"].holds) <= sent_by_crm


def test_every_command_of_a_customer_lifecycle_renders_through_its_route(
        harness: Harness, targets: dict[str, TargetConfig]) -> None:
    systems = harness.systems
    number = "C-700001"
    harness.feed(systems.crm_create(number, name="Acme", email="a@acme.cn"))
    harness.settle()
    harness.feed(systems.crm_address(number, "billing", line1="3 Quay"))
    harness.feed(systems.erp_edit(number, credit_limit="800.00", name="ERP Rename"))
    harness.feed(systems.crm_edit(number, payment_terms="COD"))
    harness.settle()
    harness.feed(systems.crm_delete(number))
    harness.settle()
    bodies = []
    for sent in harness.sent:
        route = _route(targets, sent.record["target"], sent.record["payload_type"], sent.record["operation"])
        for name in placeholders(route.path):
            assert sent.payload.get(name) is not None or name in route.lookups, (sent.route, name)
        if route.only_changed:
            assert sent.changed, f"{sent.route}: an only_changed route with no changed fields sends everything"
        include = frozenset(sent.changed) if route.only_changed and sent.changed else None
        body = render_fields(route.body, sent.payload, {}, include=include) if route.body else None
        bodies.append((sent.route, body))
    assert bodies == [
        (("Account", "create"), {"account_code": "AC-700001", "crm_customer_number": number, "name": "Acme",
                                 "email": "a@acme.cn", "blocked": False}),
        (("Customer", "update"), {"erp_account_id": systems.accounts[number]["account_id"],
                                  "credit_limit": "0.00", "payment_terms": "NET30"}),
        (("Account", "update"), {"billing_line1": "3 Quay", "billing_city": "Shanghai",
                                 "billing_postal_code": "200000", "billing_country": "CN"}),
        (("Account", "update"), {"name": "Acme"}),
        (("Customer", "update"), {"credit_limit": "800.00"}),
        (("Customer", "update"), {"payment_terms": "NET30"}),
        (("Account", "deactivate"), None),
    ]
