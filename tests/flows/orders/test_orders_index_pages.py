"""The ``index`` store of the document flow stays in small values however many documents one key lists: a party's
documents, the documents waiting for a look-up, and every document waiting anywhere (an initial sync whose orders
come before their customers' accounts). One list per key once held them all: a customer with 100,000 orders
outgrew a Kafka record (MessageSizeTooLargeError when the changelog record was produced), and every step of every
order read the whole list to see whether its number was on it."""

from __future__ import annotations

import json
import time
from typing import Any

from order_events import Cdc, Change, Rec, crm_customer, crm_line, crm_order, erp_account
from order_harness import Harness

from reference.topics import CRM_CUSTOMERS, CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS, ERP_ACCOUNTS
from streams.flows.orders.index import INDEXED_UNDER, page_key
from streams.flows.orders.state import State

CUSTOMER = "C-000301"
PARTY = f"party={CUSTOMER}"
CREATE = ("erp", "SalesOrder", "create")
HOLD_AFTER_S = 300.0
#: A page's size, about: a changelog record of an index value stays far below a Kafka record's 1 MiB (the
#: 1,500 numbers below made a value of ~20 KiB in one list).
SMALL = 8192


def customer(cdc: Cdc, *, name: str = "Harbour Trading", before: str | None = None) -> list[Rec]:
    if before is None:
        change = Change(CRM_CUSTOMERS, "c", after=crm_customer(1, CUSTOMER, name=name))
    else:
        change = Change(CRM_CUSTOMERS, "u", before=crm_customer(1, CUSTOMER, name=before),
                        after=crm_customer(1, CUSTOMER, name=name))
    return cdc.crm_transaction([change]).in_order


def account(cdc: Cdc) -> Rec:
    return cdc.erp(ERP_ACCOUNTS, "c", after=erp_account(11, CUSTOMER))


def number(n: int) -> str:
    return f"SO-{n:06d}"


def order(cdc: Cdc, n: int) -> list[Rec]:
    return cdc.crm_transaction([
        Change(CRM_SALES_ORDERS, "c", after=crm_order(n, number(n), 1)),
        Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(n, n, 1, "SKU-1", unit_price="60.00")),
    ]).in_order


def state(harness: Harness) -> State:
    return State(harness.run.context, harness.flow.lookups)


def largest_index_value(harness: Harness) -> int:
    return max((len(json.dumps(value)) for value in harness.store("index").values()), default=0)


def tick(harness: Harness, after_s: float = 0.0) -> Any:
    return harness.run.tick(now_s=time.time() + after_s, hold_after_s=HOLD_AFTER_S)


def test_a_party_of_many_documents_keeps_its_index_in_small_values(harness: Harness, cdc: Cdc) -> None:
    """1,500 orders (three pages) come before their customer (an initial sync): each waits for the customer's
    look-up, then for its account; the account's arrival (a party change) sends them all. No index value
    outgrows a page, no document is listed twice, and a step of an order already listed adds nothing."""
    count = 1500
    numbers = [number(n) for n in range(1, count + 1)]
    assert harness.commands(harness.feed(*(order(cdc, n) for n in range(1, count + 1)))) == []
    (waits,) = [key for key in harness.store("index") if key.startswith("wait=")]
    assert state(harness).indexed(waits) == state(harness).indexed("waiting_for") == numbers
    assert largest_index_value(harness) < SMALL
    assert tick(harness).records == count

    assert harness.commands(harness.feed(customer(cdc))) == []  # its customer, but no account yet
    assert state(harness).indexed(waits) == []
    assert state(harness).indexed(PARTY) == state(harness).indexed("no_account") == numbers
    assert tick(harness).records == count
    assert state(harness).indexed("waiting_for") == []  # the tick forgets what no longer waits there
    assert largest_index_value(harness) < SMALL

    assert harness.commands(harness.feed(customer(cdc, name="Renamed", before="Harbour Trading"))) == []
    assert state(harness).indexed(PARTY) == numbers  # every order looked at again, none listed twice

    sent = harness.commands(harness.feed(account(cdc)))
    assert [s.key for s in sent] == numbers and {s.kind for s in sent} == {CREATE}
    assert tick(harness).records == 0
    assert {key for key, value in harness.store("index").items() if "pages" in value} == {PARTY}  # none waits
    assert state(harness).indexed(PARTY) == numbers
    assert largest_index_value(harness) < SMALL


def as_older_version_kept_it(harness: Harness) -> None:
    """Rewrite the index as a version that kept each key's documents in one list did, and the documents' entries
    as it wrote them (naming no index key)."""
    index, documents = harness.run.context.memory["index"], harness.run.context.memory["documents"]
    for key, value in harness.store("index").items():
        if "pages" in value:
            pages = [page_key(key, page) for page in value["pages"]]
            index.put(key, {"documents": [n for page in pages for n in (index.get(page) or {})["documents"]]})
            for page in pages:
                index.put(page, None)
    for key, document in harness.store("documents").items():
        documents.put(key, {k: v for k, v in document.items() if k != INDEXED_UNDER})


def test_an_index_kept_whole_by_an_older_version_is_read_as_it_is_and_paged_when_written(
        harness: Harness, cdc: Cdc) -> None:
    numbers = [number(n) for n in (1, 2, 3)]
    harness.feed(*(order(cdc, n) for n in (1, 2, 3)))  # before their customer: they wait for it
    as_older_version_kept_it(harness)
    (waits,) = [key for key in harness.store("index") if key.startswith("wait=")]
    assert harness.store("index")["waiting_for"] == {"documents": numbers}
    assert tick(harness).records == 3
    assert harness.store("index")["waiting_for"] == {"documents": numbers}  # read, not written: all still wait

    assert harness.commands(harness.feed(customer(cdc))) == []  # the look-up they waited for: they go on
    assert waits not in harness.store("index") and state(harness).indexed(PARTY) == numbers
    assert tick(harness).records == 3  # waiting for the account now
    assert "waiting_for" not in harness.store("index")  # what no longer waits is forgotten

    as_older_version_kept_it(harness)
    harness.feed(customer(cdc, name="Renamed", before="Harbour Trading"))  # each order looked at again
    assert harness.store("index")[PARTY] == harness.store("index")["no_account"] == {"pages": [0]}
    assert state(harness).indexed(PARTY) == state(harness).indexed("no_account") == numbers
    assert all(harness.store("documents")[n][INDEXED_UNDER] == [PARTY, "no_account"] for n in numbers)
    assert tick(harness).records == 3  # each once

    as_older_version_kept_it(harness)
    harness.feed(order(cdc, 4))
    numbers.append(number(4))
    index = harness.store("index")
    assert index[PARTY] == index["no_account"] == {"pages": [0]}  # paged when written
    assert index[page_key(PARTY, 0)] == index[page_key("no_account", 0)] == {"documents": numbers}

    sent = harness.commands(harness.feed(account(cdc)))  # a party change: each of its orders once
    assert [s.key for s in sent] == numbers and {s.kind for s in sent} == {CREATE}
    assert state(harness).indexed(PARTY) == numbers
    assert tick(harness).records == 0
    assert "no_account" not in harness.store("index")
