"""Issue 14, "create, update, delete and re-create in both directions", the Tryton side of it (the CRM side:
test_tryton_archive.py). By the files of ``examples/tryton/`` alone:

- a party archived in Tryton deletes the CRM customer, and made active again makes the customer again; a party
  deleted in Tryton deletes it, and a new party made with the same code makes it again (one customer per
  number, one party per code); a fixed point after each step;
- a party born in Tryton with an e-mail and a phone (contact mechanisms made in the same call) gives the CRM
  customer both, and an e-mail changed in the CRM reaches that mechanism in place;
- a party with contact mechanisms deleted in Tryton: the mechanisms' deletes (Tryton removes them with their
  party) look their party up after its link row is gone. The customer is deleted, and none of them is left
  waiting in the flow's stores (the router's ``held``, the flow's ``parked``): nothing stuck silently.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row
from support.topics import records_to_end, topic_names
from support.waiting import eventually
from tryton_example.test_tryton_born import _at_rest, _customer, _published
from tryton_example.test_tryton_contacts import CrmContacts, mechanisms
from tryton_example.test_tryton_integration import FLOW, Tryton, _settled, processes

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

__all__ = ["processes"]  # the pipeline fixture of the example's main test, used here too


def _number() -> str:
    return f"C-802{random.randrange(10**7):07d}"


def _customers_numbered(example: TrytonExample, number: str) -> int:
    """How many rows of the CRM's customers table carry ``number`` (the API shows one at most)."""
    with example.stack.connect_crm(autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute("SELECT count(*) AS n FROM crm.customers WHERE customer_number = %s", (number,)).fetchone()
    assert row is not None
    return int(row["n"])


def _exists(example: TrytonExample, number: str, name: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        customer = _customer(example, number)
        return customer if customer is not None and customer["name"] == name else None
    return probe


def _gone(example: TrytonExample, number: str) -> Callable[[], bool | None]:
    return lambda: True if _customer(example, number) is None else None


def parked_for(example: TrytonExample, party_id: int) -> dict[str, list[str]]:
    """The records still waiting in the example flow's stores for party ``party_id``'s link, per changelog: the
    keying stage's ``held`` and the flow's ``parked`` (``erp_account_id=<id>`` and ``erp_account_id=<id>#<n>``).
    A store's live entries are the keys whose latest changelog value is not a tombstone."""
    bootstrap = example.stack.settings.bootstrap_servers
    topics = [t for t in topic_names(bootstrap) if t.startswith(f"{FLOW}-")
              and t.endswith(("-held-changelog", "-parked-changelog"))]
    assert topics, f"no held or parked changelog of {FLOW}: is the flow's store naming still as this test reads it?"
    found: dict[str, list[str]] = {}
    for topic in topics:
        latest = {r.text_key: r.value for r in records_to_end(bootstrap, [topic]) if r.text_key is not None}
        mine = f"erp_account_id={party_id}"
        live = sorted(k for k, v in latest.items() if v is not None and k.split("#")[0] == mine)
        if live:
            found[topic] = live
    return found


def _between_steps(example: TrytonExample) -> None:
    """A shorter fixed point between one test's steps than its last (8 s against 15): each step starts from rest,
    and an echo loop a step starts does not end on its own, so the last wait, or this one, still sees it."""
    _settled(example, quiet_s=8)


def test_a_party_archived_or_deleted_in_tryton_and_made_again_makes_the_customer_again(
        tryton_example: TrytonExample, processes: Path) -> None:
    tryton, number = Tryton(tryton_example), _number()

    (party_id,) = tryton.call("model.party.party.create", [{"name": "Recreate Probe Ltd", "code": number}], {})
    eventually("the party becomes a CRM customer", _exists(tryton_example, number, "Recreate Probe Ltd"), processes)
    _between_steps(tryton_example)

    # Archived in Tryton: the customer is deleted in the CRM.
    tryton.call("model.party.party.write", [party_id], {"active": False}, {})
    eventually("the archived party deletes the customer", _gone(tryton_example, number), processes)
    _between_steps(tryton_example)
    archived = tryton.party(number)
    assert _customer(tryton_example, number) is None and archived is not None and archived["active"] is False

    # Made active again in Tryton: the customer exists again, under the party's name.
    tryton.call("model.party.party.write", [party_id], {"active": True}, {})
    again = eventually("the party made active again makes the customer again",
                       _exists(tryton_example, number, "Recreate Probe Ltd"), processes)
    _between_steps(tryton_example)
    assert _customers_numbered(tryton_example, number) == 1
    party = tryton.party(number)
    assert party is not None and (party["id"], party["active"]) == (party_id, True)
    # (The same customer since: other flows on this shared CRM may add fields of their own, so not compared.)
    now = _customer(tryton_example, number)
    assert now is not None and (now["id"], now["name"]) == (again["id"], "Recreate Probe Ltd")

    # Deleted in Tryton: the customer is deleted.
    tryton.call("model.party.party.delete", [party_id], {})
    eventually("the party's delete deletes the customer", _gone(tryton_example, number), processes)
    _between_steps(tryton_example)
    assert tryton.parties(number) == []

    # A new party with the same code: the customer exists again, one per number; the new party is the one linked.
    (new_id,) = tryton.call("model.party.party.create", [{"name": "Recreate Probe Again", "code": number}], {})
    assert new_id != party_id
    eventually("a new party with the code makes the customer again",
               _exists(tryton_example, number, "Recreate Probe Again"), processes)
    _between_steps(tryton_example)
    assert _customers_numbered(tryton_example, number) == 1
    assert [(p["id"], p["name"], p["active"]) for p in tryton.parties(number)] == [
        (new_id, "Recreate Probe Again", True)]

    # And the link is the new party's: a CRM rename reaches it.
    CrmContacts(tryton_example).patch(number, name="Recreate Probe plc")
    eventually("the CRM's rename reaches the new party",
               lambda: True if (p := tryton.party(number)) and p["name"] == "Recreate Probe plc" else None, processes)
    _at_rest(tryton_example)
    assert [(p["id"], p["name"], p["active"]) for p in tryton.parties(number)] == [
        (new_id, "Recreate Probe plc", True)]


def test_a_party_born_in_tryton_with_e_mail_and_phone_and_deleted_there(tryton_example: TrytonExample,
                                                                         processes: Path) -> None:
    tryton, crm, number = Tryton(tryton_example), CrmContacts(tryton_example), _number()

    # Born in Tryton with an e-mail and a phone: contact mechanisms made in the party's own create.
    (party_id,) = tryton.call("model.party.party.create", [{
        "name": "Contact Born Ltd", "code": number,
        "contact_mechanisms": [["create", [{"type": "email", "value": "born@example.com"},
                                            {"type": "phone", "value": "+47 2300 0001"}]]]}], {})
    eventually("the party's e-mail and phone reach the CRM customer",
               lambda: True if _customer(tryton_example, number) and crm.contact(number) == (
                   "born@example.com", "+47 2300 0001") else None, processes)
    _between_steps(tryton_example)
    made = mechanisms(tryton, number)
    assert [(m["type"], m["value"]) for m in made] == [("email", "born@example.com"), ("phone", "+47 2300 0001")]

    # CRM -> Tryton: the e-mail changed in the CRM changes that mechanism in place.
    crm.patch(number, email="born2@example.com")
    eventually("the CRM's e-mail reaches the Tryton mechanism",
               lambda: True if [m["value"] for m in mechanisms(tryton, number) if m["type"] == "email"]
               == ["born2@example.com"] else None, processes)
    _between_steps(tryton_example)
    after = mechanisms(tryton, number)
    assert [(m["id"], m["type"]) for m in after] == [(m["id"], m["type"]) for m in made]
    assert [m["value"] for m in after] == ["born2@example.com", "+47 2300 0001"]
    assert crm.contact(number) == ("born2@example.com", "+47 2300 0001")

    # Deleted in Tryton with its mechanisms: the customer is deleted, and no mechanism's delete is left waiting
    # for the party's link in the flow's stores.
    tryton.call("model.party.party.delete", [party_id], {})
    eventually("the party's delete deletes the customer", _gone(tryton_example, number), processes)
    _at_rest(tryton_example)
    assert mechanisms(tryton, number) == [] and tryton.parties(number) == []
    assert parked_for(tryton_example, party_id) == {}


def test_contact_mechanisms_of_a_party_outside_the_range_wait_for_nothing(tryton_example: TrytonExample,
                                                                        processes: Path) -> None:
    """A party of Tryton's own (a code outside the example's range) stays in Tryton; its e-mail, made, changed
    and deleted, is not held in the flow's stores for a link that will never come."""
    tryton, crm = Tryton(tryton_example), CrmContacts(tryton_example)
    code, number = f"T-{random.randrange(10**9):09d}", _number()
    (party_id,) = tryton.call("model.party.party.create", [{
        "name": "Tryton Only Ltd", "code": code,
        "contact_mechanisms": [["create", [{"type": "email", "value": "only@example.com"}]]]}], {})
    (mechanism,) = tryton.call("model.party.contact_mechanism.search", [["party", "=", party_id]], 0, None, None, {})
    tryton.call("model.party.contact_mechanism.write", [mechanism], {"value": "only2@example.com"}, {})
    tryton.call("model.party.party.delete", [party_id], {})
    # A party of the range with an e-mail after them: once its e-mail is in the CRM, the flow has read the
    # mechanisms' topic past the other party's changes (one partition, in order).
    tryton.call("model.party.party.create", [{
        "name": "Marker Ltd", "code": number,
        "contact_mechanisms": [["create", [{"type": "email", "value": "marker@example.com"}]]]}], {})
    eventually("the marker party's e-mail reaches the CRM",
               lambda: True if _customer(tryton_example, number) and crm.contact(number)[0] == "marker@example.com"
               else None, processes)
    _at_rest(tryton_example)
    assert parked_for(tryton_example, party_id) == {}
    # Linked so that its mechanisms find it, the party is still no customer: not made in the CRM, not published.
    assert _customer(tryton_example, code) is None and _published(tryton_example, code) is None
