"""Issue 14, e-mail and phone with Tryton: the reference CRM keeps them on the customer, Tryton as contact
mechanisms (rows of party_contact_mechanism, written by id through JSON-RPC). Set and changed in the CRM they
reach the party's mechanisms (one per type, changed in place); an e-mail changed in Tryton reaches the CRM.
Then a fixed point: no further commands, nothing echoed. All by the files of ``examples/tryton/`` alone."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from psycopg.rows import dict_row
from support.pipeline import command_counts
from support.waiting import eventually
from tryton_example.test_tryton_integration import CRM, ERP, Crm, Tryton, _settled, processes

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

__all__ = ["processes"]  # the pipeline fixture of the example's main test, used here too


class CrmContacts(Crm):
    def create_with(self, number: str, name: str, **contact: str) -> None:
        answer = httpx.post(f"{self.base}/customers", json={"customer_number": number, "name": name, **contact},
                            timeout=10)
        assert answer.status_code == 201, answer.text

    def patch(self, number: str, **fields: str) -> None:
        answer = httpx.patch(f"{self.base}/customers/{number}", json=fields, timeout=10)
        assert answer.status_code == 200, answer.text

    def contact(self, number: str) -> tuple[str | None, str | None]:
        customer = httpx.get(f"{self.base}/customers/{number}", timeout=10).json()
        return customer.get("email"), customer.get("phone")


def mechanisms(tryton: Tryton, code: str) -> list[dict[str, Any]]:
    with tryton.stack.connect_crm(dbname=tryton.stack.settings.tryton_db_name, autocommit=True,
                                  row_factory=dict_row) as conn:
        return conn.execute("SELECT m.id, m.type, m.value, m.active FROM party_contact_mechanism m "
                            "JOIN party_party p ON p.id = m.party WHERE p.code = %s ORDER BY m.id", (code,)).fetchall()


def test_e_mail_and_phone_sync_both_ways_with_tryton_contact_mechanisms(tryton_example: TrytonExample,
                                                                         processes: Path) -> None:
    tryton, crm = Tryton(tryton_example), CrmContacts(tryton_example)
    number = f"C-802{random.randrange(10**7):07d}"

    def where(condition: Callable[[dict[str, str]], bool]) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            rows = mechanisms(tryton, number)
            by_type = {row["type"]: row["value"] for row in rows}
            return {"rows": rows, **by_type} if condition(by_type) else None
        return probe

    # CRM -> Tryton, create: the party is made with an e-mail and a phone mechanism.
    crm.create_with(number, "Contact Probe Ltd", email="probe@example.com", phone="+47 2200 0001")
    made = eventually("e-mail and phone reach Tryton",
                      where(lambda m: m.get("email") == "probe@example.com" and m.get("phone") == "+47 2200 0001"),
                      processes)
    assert [r["type"] for r in made["rows"]] == ["email", "phone"]
    email_id = made["rows"][0]["id"]

    # CRM -> Tryton, update: the e-mail changes in place (the same mechanism), then the phone.
    crm.patch(number, email="probe2@example.com")
    changed = eventually("the changed e-mail reaches Tryton", where(lambda m: m.get("email") == "probe2@example.com"),
                         processes)
    assert (changed["rows"][0]["id"], len(changed["rows"])) == (email_id, 2)
    crm.patch(number, phone="+47 2200 0002")
    eventually("the changed phone reaches Tryton", where(lambda m: m.get("phone") == "+47 2200 0002"), processes)

    # Tryton -> CRM: an e-mail edited in Tryton (through its API) wins as the latest commit.
    tryton.call("model.party.contact_mechanism.write", [email_id], {"value": "desk@example.com"}, {})
    eventually("Tryton's e-mail reaches the CRM",
               lambda: True if crm.contact(number)[0] == "desk@example.com" else None, processes)

    # Fixed point: no further commands, both systems as they are.
    before = _settled(tryton_example)
    snapshot = (mechanisms(tryton, number), crm.contact(number))
    time.sleep(15)
    assert command_counts(tryton_example.stack.settings.bootstrap_servers, (CRM, ERP)) == before, \
        "commands kept coming after the burst: an echo loop"
    assert (mechanisms(tryton, number), crm.contact(number)) == snapshot
    assert snapshot[1] == ("desk@example.com", "+47 2200 0002")
    assert [(r["type"], r["value"]) for r in snapshot[0]] == [("email", "desk@example.com"),
                                                              ("phone", "+47 2200 0002")]
