"""A document's cancel on the made-up pair (tests/flows/orders/madeup), whose shop keeps PostgreSQL's default replica
identity: a basket's delete (its items by ON DELETE CASCADE) carries only its key.

A new user's trial: a deleted shop order never became a cancel in fulfilment (the flow re-read the party from the
key-only before-image, found none, and stopped without a word); and a cancel of an order fulfilment had shipped was
not sent, but the shipped status was written back over it, undoing the user's cancel silently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from madeup_pair import COLUMNS, Events, built
from madeup_pair import feed as _feed
from test_document_madeup import BASKET, BOOKING, BUYER, CLIENT, HERE, ITEM

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun
from streams.flows.topics import HOLDS, topic

pytestmark = pytest.mark.unit


def key_only(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The before-image of a delete under PostgreSQL's default replica identity: the row's key, nothing else."""
    first = next(iter(COLUMNS["shop"][table]))
    return {column: row[column] if column == first else None for column in COLUMNS["shop"][table]}


def reserved(events: Events) -> tuple[LocalRun, SchemaStore]:
    """Basket BK-5 created in the books, which reserved it; the shop shows it reserved."""
    local, schemas = built(HERE)
    _feed(local, schemas, [*events.shop(("buyers", "c", None, BUYER)), *events.books("clients", "c", after=CLIENT)])
    _feed(local, schemas, events.shop(("baskets", "c", None, BASKET), ("basket_items", "c", None, ITEM)))
    _feed(local, schemas, events.books("bookings", "c", after=BOOKING))
    assert _feed(local, schemas, events.shop(("baskets", "u", BASKET, RESERVED))) == []
    return local, schemas


RESERVED = {**BASKET, "state": "reserved", "booking_ref": 500}
SHIPPED = {**RESERVED, "state": "shipped"}
#: The basket deleted, its items by ON DELETE CASCADE, in one transaction: each delete carries only its key.
DELETED = (("basket_items", "d", key_only("basket_items", ITEM), None),
           ("baskets", "d", key_only("baskets", RESERVED), None))


def holds(local: LocalRun, schemas: SchemaStore) -> list[dict[str, Any]]:
    return [dict(schemas.decode(e.value, "isthmus.canonical.Hold").value)
            for e in local.context.emitted if e.topic == topic(HOLDS) and e.value is not None]


def test_a_deleted_basket_is_cancelled_with_what_the_flow_knows_of_it() -> None:
    events = Events()
    local, schemas = reserved(events)
    (cancel,) = _feed(local, schemas, events.shop(*DELETED))
    assert (cancel["target"], cancel["operation"], cancel["entity_key"]) == ("books", "cancel", "BK-5")
    assert cancel["payload"]["status"] == "cancelled"
    assert (cancel["payload"]["customer_number"], cancel["payload"]["erp_account_id"]) == ("B-7", 70)
    assert cancel["payload"]["erp_order_id"] == 500
    cancelled = {**BOOKING, "phase": "void"}
    assert _feed(local, schemas, events.books("bookings", "u", before=BOOKING, after=cancelled)) == []
    assert local.context.dead_letters == [] and holds(local, schemas) == []


@pytest.mark.parametrize("cancel", ["update", "delete"])
def test_a_cancel_of_a_shipped_basket_is_held_and_not_undone(cancel: str) -> None:
    events = Events()
    local, schemas = reserved(events)
    sent = {**BOOKING, "phase": "sent"}
    (back,) = _feed(local, schemas, events.books("bookings", "u", before=BOOKING, after=sent))
    assert back["payload"]["status"] == "shipped"
    assert _feed(local, schemas, events.shop(("baskets", "u", RESERVED, SHIPPED))) == []
    cancelled = {**SHIPPED, "state": "cancelled"}
    changes = (("baskets", "u", SHIPPED, cancelled),) if cancel == "update" else DELETED
    assert _feed(local, schemas, events.shop(*changes)) == []  # no cancel, and the shop keeps its cancel
    (held,) = holds(local, schemas)
    assert (held["state"], held["cause"], held["field"], held["origin_status"]) == ("held", "locked", "status", None)
    assert "shipped" in held["message"] and "cancel" in held["message"]
    assert local.context.dead_letters == []
    if cancel == "update":
        assert _feed(local, schemas, events.shop(("baskets", "u", cancelled, SHIPPED))) == []  # the cancel undone
        assert [h["state"] for h in holds(local, schemas)] == ["held", "released"]
