"""A made-up pair whose baskets name their buyer by the link's own key (``lookup: {by: customer_number, field:
customer_number}``, as a shop's order names its customer's number), and whose target keeps no balance and blocks
no party (no ``balance:``, no ``party.blocked`` or ``party.held``). A buyer the flow has seen, whose account in
the books is not made (its create there dead-lettered), holds the basket with cause ``no_account`` naming the
buyer, not as a record never seen; the account's arrival sends it and releases the hold.
Configuration only: tests/flows/orders/madeup_plain."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from madeup_pair import Events, built, feed

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun
from streams.flows.topics import HOLDS

pytestmark = pytest.mark.unit
HERE = Path(__file__).resolve().parent / "madeup_plain"
HOLD_AFTER_S = 300.0

BUYER = {"buyer_id": 7, "code": "B-7", "label": "Quay Stores", "balance_due": 0}
CLIENT = {"client_id": 70, "shop_code": "7", "title": "Quay Stores", "frozen": False}
BASKET = {"basket_id": 5, "ref": "BK-5", "buyer": 7, "state": "submitted", "cur": "EUR", "booking_ref": None}
ITEM = {"item_id": 9, "basket": 5, "pos": 1, "article": "A-1", "qty": 3, "price": 4}


@pytest.fixture
def run() -> tuple[LocalRun, SchemaStore]:
    return built(HERE)


def holds(run: LocalRun, schemas: SchemaStore, since: int) -> list[dict[str, Any]]:
    return [dict(schemas.decode(e.value, "isthmus.canonical.Hold").value) for e in run.context.emitted[since:]
            if e.topic == HOLDS and e.value is not None]


def test_a_seen_buyer_without_an_account_holds_its_basket_as_no_account_naming_the_buyer(
        run: tuple[LocalRun, SchemaStore]) -> None:
    local, schemas = run
    events = Events()
    # the buyer is captured; its client's create in the books was dead-lettered, so no client row comes
    assert feed(local, schemas, events.shop(("buyers", "c", None, BUYER))) == []
    assert feed(local, schemas, events.shop(("baskets", "c", None, BASKET), ("basket_items", "c", None, ITEM))) == []
    seen = len(local.context.emitted)
    local.tick(now_s=time.time() + HOLD_AFTER_S + 1, hold_after_s=HOLD_AFTER_S)
    (hold,) = holds(local, schemas, seen)
    assert (hold["entity_key"], hold["state"], hold["cause"], hold["field"]) == (
        "BK-5", "held", "no_account", "erp_account_id")
    assert "Customer 7 has no account in books" in hold["message"]
    assert hold["origin_status"] is None  # the shop keeps its own status
    seen = len(local.context.emitted)
    (create,) = feed(local, schemas, events.books("clients", "c", after=CLIENT))
    assert (create["target"], create["operation"], create["entity_key"]) == ("books", "create", "BK-5")
    assert (create["payload"]["customer_number"], create["payload"]["erp_account_id"]) == ("7", 70)
    (released,) = holds(local, schemas, seen)
    assert (released["state"], released["cause"]) == ("released", "no_account")
    assert local.context.dead_letters == []


def test_a_target_without_balance_or_blocking_needs_neither_section(run: tuple[LocalRun, SchemaStore]) -> None:
    local, schemas = run
    events = Events()
    frozen = {**CLIENT, "frozen": True}  # a column of the books the flow file does not name: nothing is blocked
    assert feed(local, schemas, [*events.shop(("buyers", "c", None, BUYER)),
                                 *events.books("clients", "c", after=frozen)]) == []
    (create,) = feed(local, schemas, events.shop(("baskets", "c", None, BASKET), ("basket_items", "c", None, ITEM)))
    assert (create["target"], create["operation"]) == ("books", "create")
    echo = {**BUYER, "balance_due": 12}  # no balance kept: the shop's buyer changes command nothing
    assert feed(local, schemas, events.shop(("buyers", "u", BUYER, echo))) == []
    assert "ledger.acct.bills" not in local.flow.inputs
    assert local.context.dead_letters == []
