"""The document block on a made-up pair that shares no table, column or system name with the reference: a
shop's baskets and items, joined along the shop's transaction, become one booking in a books system; the
booking's phase comes back to the basket (its echo commands nothing); a bill moves the buyer's balance due.
Configuration only: tests/flows/orders/madeup (mapping files, and flows/deals.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from madeup_pair import Events, built, feed

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun

pytestmark = pytest.mark.unit
HERE = Path(__file__).resolve().parent / "madeup"


@pytest.fixture
def run() -> tuple[LocalRun, SchemaStore]:
    return built(HERE)


BUYER = {"buyer_id": 7, "code": "B-7", "label": "Quay Stores", "balance_due": 0}
CLIENT = {"client_id": 70, "shop_code": "B-7", "title": "Quay Stores", "frozen": False}
BASKET = {"basket_id": 5, "ref": "BK-5", "buyer": 7, "state": "submitted", "cur": "EUR", "booking_ref": None}
ITEM = {"item_id": 9, "basket": 5, "pos": 1, "article": "A-1", "qty": 3, "price": 4}
BOOKING = {"booking_id": 500, "shop_ref": "BK-5", "client": 70, "phase": "booked"}


def test_a_made_up_pair_runs_through_the_document_block(run: tuple[LocalRun, SchemaStore]) -> None:
    local, schemas = run
    events = Events()
    assert feed(local, schemas, [*events.shop(("buyers", "c", None, BUYER)), *events.books("clients", "c",
                                                                                          after=CLIENT)]) == []
    sent = feed(local, schemas, events.shop(("baskets", "c", None, BASKET), ("basket_items", "c", None, ITEM)))
    (create,) = sent
    assert (create["target"], create["operation"], create["entity_key"]) == ("books", "create", "BK-5")
    assert create["source"]["system"] == "shop" and create["source"]["table"] == "baskets"
    assert create["payload"]["erp_account_id"] == 70 and create["payload"]["customer_number"] == "B-7"
    assert create["payload"]["lines"] == [
        {"line_no": 1, "sku": "A-1", "quantity": "3.000", "unit_price": "4.00"}]
    (back,) = feed(local, schemas, events.books("bookings", "c", after=BOOKING))
    assert (back["target"], back["operation"], back["changed_fields"]) == ("shop", "update",
                                                                          ["status", "erp_order_id"])
    assert (back["payload"]["status"], back["payload"]["erp_order_id"]) == ("reserved", 500)
    echo = {**BASKET, "state": "reserved", "booking_ref": 500}
    assert feed(local, schemas, events.shop(("baskets", "u", BASKET, echo))) == []
    (phase,) = feed(local, schemas, events.books("bookings", "u", before=BOOKING, after={**BOOKING, "phase": "sent"}))
    assert phase["payload"]["status"] == "shipped" and phase["changed_fields"] == ["status"]
    (billed,) = feed(local, schemas, events.books("bills", "c", after={"bill_id": 1, "client": 70, "total": 12}))
    assert (billed["target"], billed["entity_key"], billed["changed_fields"]) == ("shop", "B-7", ["open_balance"])
    assert billed["payload"]["open_balance"] == "12.00"
    assert feed(local, schemas, events.shop(("buyers", "u", BUYER, {**BUYER, "balance_due": 12}))) == []
    assert local.context.dead_letters == []
