"""The audit topic's conflicts, tailed without ``--show-pii``, hide a value only where the entity's schema marks its
field personal (a new user's trial: every conflict showed ``"values": "***"``, its rebates and blocks too, though
the worker's own WARNINGs printed them; the audit record's ``values`` map was marked personal whole).

The made-up pair of tests/flows/customers/members/ (portal and dues, over ``isthmus.canonical.Customer``, whose
name, email and phone are personal) runs through LocalRun; each conflict the flow audited is decoded and masked as
``isthmus topics tail`` does it. An entity whose schema is not known here keeps every value hidden."""

from __future__ import annotations

from typing import Any

import pytest
from test_entity_held_by_both import Members, _loaded

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.topics import AUDIT_CONFLICTS
from streams.inspect.decoding import RawRecord, decode_record, masked
from streams.inspect.masking import CONFLICT, MASK, PiiCatalog

pytestmark = pytest.mark.unit


def _tailed(schemas: SchemaStore, first: str) -> dict[str, dict[str, Any]]:
    """Both systems held member 4711 before the first sync; the flow read ``first``'s row, then the other's: the
    conflicts it audited, by field, as `isthmus topics tail isthmus.audit.conflicts` shows them."""
    run = Members(schemas)
    other = "dues" if first == "portal" else "portal"
    own = run.row(other, "r")
    run.feed(run.row(first, "r"))
    run.feed(own)
    catalog = PiiCatalog.load(schemas.schemas, mappings=_loaded(schemas)[0])
    shown = {}
    for offset, out in enumerate(e for e in run.run.context.emitted if e.topic == AUDIT_CONFLICTS):
        raw = RawRecord(topic=out.topic, partition=0, offset=offset, timestamp_ms=0, key=out.key, value=out.value)
        record = masked(decode_record(raw, schemas), catalog)
        shown[record.value["field"]] = record.value
    return shown


def test_a_conflict_on_a_field_the_entity_does_not_mark_personal_shows_its_values(schemas: SchemaStore) -> None:
    shown = _tailed(schemas, "dues")
    assert sorted(shown) == ["blocked", "credit_limit"]
    assert shown["credit_limit"]["values"] == {"dues": '"12.50"', "portal": '"1.00"'}
    assert shown["blocked"]["values"] == {"dues": "true", "portal": "false"}
    assert shown["credit_limit"]["entity_key"] == "4711" and shown["credit_limit"]["winner"] == "dues"


def test_a_conflict_on_a_personal_field_hides_each_systems_value(schemas: SchemaStore) -> None:
    shown = _tailed(schemas, "portal")
    assert sorted(shown) == ["email", "name"]
    assert shown["name"]["values"] == shown["email"]["values"] == {"portal": MASK, "dues": MASK}
    assert shown["name"]["winner"] == "portal" and shown["name"]["entity_key"] == "4711"


def test_a_conflict_of_an_entity_whose_schema_is_not_known_hides_every_value(schemas: SchemaStore) -> None:
    catalog = PiiCatalog.load(schemas.schemas, mappings=_loaded(schemas)[0])
    conflict = {"entity_type": "club.Subscription", "entity_key": "4711", "field": "credit_limit",
                "values": {"dues": '"12.50"', "portal": None}}
    assert catalog.mask_canonical(CONFLICT, conflict)["values"] == {"dues": MASK, "portal": None}
    nested = {**conflict, "entity_type": "isthmus.canonical.Customer", "field": "billing_address"}
    assert catalog.mask_canonical(CONFLICT, nested)["values"]["dues"] == MASK, "a record holding personal parts"
    part = {**nested, "field": "billing_address.country"}
    assert catalog.mask_canonical(CONFLICT, part)["values"]["dues"] == '"12.50"'
