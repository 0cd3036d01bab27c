"""From a payload to a request: path templates, lookups, bodies; and how answers are classified."""

from __future__ import annotations

import pytest

from streams.sinks.adapters.mapping import MISSING, UnresolvedReference, get_path, render_fields, render_path
from streams.sinks.config.model import Constant, EachItem, FieldSpec, FromField
from streams.sinks.outcomes import answer_text, assigned_ids, classify_status

PAYLOAD = {"account_id": None, "crm_customer_number": "C-000123", "name": "Acme / Ltd", "email": None,
           "billing_address": {"city": "Shanghai", "line1": "1 Road"}, "blocked": False,
           "lines": [{"sku": "A", "quantity": "2.000", "warehouse_code": None}, {"sku": "B", "quantity": "1.500"}]}


def test_get_path_walks_records_and_list_indexes() -> None:
    assert get_path(PAYLOAD, "billing_address.city") == "Shanghai"
    assert get_path(PAYLOAD, "lines.1.sku") == "B"
    assert get_path({"items": [{"order_id": 7}]}, "items.0.order_id") == 7
    for missing in ("nope", "billing_address.zip", "lines.5.sku", "name.first"):
        assert get_path(PAYLOAD, missing) is MISSING


def test_path_values_are_percent_encoded_and_lookups_fill_nulls() -> None:
    assert render_path("/customers/{name}", PAYLOAD, {}) == "/customers/Acme%20%2F%20Ltd"
    assert render_path("/accounts/{account_id}", PAYLOAD, {"account_id": 42}) == "/accounts/42"
    assert render_path("/orders?crm_order_number={crm_customer_number}", PAYLOAD, {}) == \
        "/orders?crm_order_number=C-000123"
    assert render_path("/flags/{blocked}", PAYLOAD, {}) == "/flags/false"


def test_an_unresolved_placeholder_names_itself() -> None:
    with pytest.raises(UnresolvedReference) as caught:
        render_path("/accounts/{account_id}", PAYLOAD, {})
    assert caught.value.name == "account_id"
    with pytest.raises(UnresolvedReference) as absent:
        render_path("/accounts/{code}", PAYLOAD, {})
    assert not absent.value.null
    assert absent.value.why() == "code, which the payload does not have; send it in the payload"


def test_a_null_placeholder_says_the_entity_has_no_value_and_to_fix_the_source() -> None:
    with pytest.raises(UnresolvedReference) as caught:
        render_path("/contacts?email={email}", {**PAYLOAD, "email": None}, {})
    assert caught.value.null and caught.value.why() == (
        "email, which is null in this command's payload (the entity has no email in its source); fill it in the "
        "source system, then replay the dead letter")


def test_a_body_renames_selects_and_leaves_nulls_out() -> None:
    body = render_fields({"customer": FromField(path="crm_customer_number"), "mail": FromField(path="email"),
                          "city": FromField(path="billing_address.city"), "active": Constant(value=True),
                          "cleared": FromField(path="email", keep_null=True)}, PAYLOAD, {})
    assert body == {"customer": "C-000123", "city": "Shanghai", "active": True, "cleared": None}


def test_each_maps_every_item() -> None:
    body = render_fields({"lines": EachItem(path="lines", fields={"sku": FromField(path="sku"),
                                                                  "qty": FromField(path="quantity"),
                                                                  "wh": FromField(path="warehouse_code")})},
                         PAYLOAD, {})
    assert body == {"lines": [{"sku": "A", "qty": "2.000"}, {"sku": "B", "qty": "1.500"}]}


def test_only_changed_fields_are_sent_when_asked_and_constants_always() -> None:
    specs: dict[str, FieldSpec] = {"name": FromField(path="name"), "city": FromField(path="billing_address.city"),
                                   "blocked": FromField(path="blocked"), "source": Constant(value="isthmus")}
    body = render_fields(specs, PAYLOAD, {}, include=frozenset({"billing_address"}))
    assert body == {"city": "Shanghai", "source": "isthmus"}


def test_sql_rows_keep_every_column() -> None:
    assert render_fields({"email": FromField(path="email")}, PAYLOAD, {}, keep_nulls=True) == {"email": None}


@pytest.mark.parametrize(("status", "kind"), [
    (200, None), (201, None), (204, None),
    (408, "transient"), (425, "transient"), (429, "transient"), (500, "transient"), (503, "transient"),
    (409, "conflict"), (412, "conflict"),
    (401, "transient"), (403, "transient"),
    (400, "permanent"), (404, "permanent"), (422, "permanent"), (302, "permanent"),
])
def test_statuses_are_classified(status: int, kind: str | None) -> None:
    assert classify_status(status) == kind


def test_assigned_ids_are_strings_and_skip_absent_ones() -> None:
    body = {"account_id": 17, "account_code": "AC17", "active": True, "crm_customer_number": None}
    assert assigned_ids(body, ["account_id", "account_code", "active", "crm_customer_number", "nope"]) == {
        "account_id": "17", "account_code": "AC17", "active": "true"}
    assert assigned_ids("not json", ["account_id"]) == {}


def test_answer_text_is_compact_and_bounded() -> None:
    assert answer_text({"error": "bad", "field": "name"}) == '{"error":"bad","field":"name"}'
    assert answer_text(None) == "no body"
    assert answer_text("x" * 50, limit=10) == "x" * 10 + "…"
