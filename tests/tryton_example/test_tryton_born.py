"""Issue 14, a party born in Tryton: with ``origin: [refcrm, tryton]`` (examples/tryton/flows/parties.yaml) a
party created in Tryton through its JSON-RPC API, as a user would, with a code in the example's ``C-802`` range,
becomes a reference-CRM customer of that number through the CRM's HTTP API, the two linked by the flow (the
customer it publishes carries the CRM's id and the party's). A rename in the CRM reaches the party; then a fixed
point (no further commands). A party deleted in Tryton deletes the customer (the example's README, "What it
does"), and the pair is at rest again.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from support.topics import values_to_end
from support.waiting import eventually
from tryton_example.test_tryton_integration import CRM, ERP, Tryton, _settled, processes

from streams.codecs.avro.single_object import SchemaStore

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

__all__ = ["processes"]  # the worker and the sinks, as the example's own test runs them
#: The example flow's reconciled customers (examples/tryton/flows/parties.yaml, ``publish``).
PUBLISHED = "tryton.canonical.customers"


def _customer(example: TrytonExample, number: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{example.stack.settings.crm_api_url}/customers/{number}", timeout=10)
    return dict(answer.json()) if answer.status_code == 200 else None


def _published(example: TrytonExample, number: str) -> dict[str, Any] | None:
    """The latest customer ``number`` the flow published."""
    schemas = SchemaStore.from_directory()
    found = [dict(schemas.decode(v).value) for v in values_to_end(example.stack.settings.bootstrap_servers, PUBLISHED)
             if v is not None]
    mine = [c for c in found if c["customer_number"] == number]
    return mine[-1] if mine else None


def _at_rest(example: TrytonExample) -> dict[str, int]:
    """The command counts once no command came for 15 s: a Tryton <-> CRM round trip takes a few seconds here, so
    an echo loop keeps the counts moving and fails the wait, naming it. (The example's main tests check their
    fixed points over a longer period, with both systems' rows.)"""
    return _settled(example, quiet_s=15)


def test_a_party_born_in_tryton_becomes_a_crm_customer(tryton_example: TrytonExample, processes: Path) -> None:
    tryton = Tryton(tryton_example)
    number = f"C-802{random.randrange(10**7):07d}"

    # Tryton -> CRM, create: the party's code is the new customer's number; the flow links the two ids.
    (party_id,) = tryton.call("model.party.party.create", [{"name": "Born In Tryton Ltd", "code": number}], {})
    customer = eventually("the party becomes a CRM customer", lambda: _customer(tryton_example, number), processes)
    assert customer["name"] == "Born In Tryton Ltd"
    linked = eventually("the flow links the customer and the party",
                        lambda: (c if (c := _published(tryton_example, number)) and c["crm_customer_id"] else None),
                        processes)
    assert (linked["crm_customer_id"], linked["erp_account_id"]) == (customer["id"], party_id)
    assert len(tryton.parties(number)) == 1  # no party made back for the customer

    # CRM -> Tryton, update.
    answer = httpx.patch(f"{tryton_example.stack.settings.crm_api_url}/customers/{number}",
                         json={"name": "Born In Tryton plc"}, timeout=10)
    assert answer.status_code == 200, answer.text
    eventually("the CRM's name reaches the party",
               lambda: True if (p := tryton.party(number)) and p["name"] == "Born In Tryton plc" else None, processes)

    # Fixed point: nothing more to either system; one party, one customer, both as they are.
    counts = _at_rest(tryton_example)
    assert counts[CRM] > 0 and counts[ERP] > 0
    party, customer = tryton.party(number), _customer(tryton_example, number)
    assert party is not None and customer is not None
    assert (party["id"], party["name"], party["active"]) == (party_id, "Born In Tryton plc", True)
    assert customer["name"] == "Born In Tryton plc"

    # Tryton -> CRM, delete: the party deleted in Tryton deletes the customer; nothing is made again.
    tryton.call("model.party.party.delete", [party_id], {})
    eventually("the party's delete deletes the customer",
               lambda: True if _customer(tryton_example, number) is None else None, processes)
    _at_rest(tryton_example)
    assert tryton.parties(number) == [] and _customer(tryton_example, number) is None
