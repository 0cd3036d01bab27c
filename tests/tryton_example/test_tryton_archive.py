"""Issue 14, a CRM delete archives the Tryton party instead of deleting it, and the customer re-created under
the same number makes that same party active again (Tryton refuses to rename an archived party even in the
write that re-activates it: the target's update route makes two calls, ``then:``). One party per code
throughout; then a fixed point. All by the files of ``examples/tryton/`` alone."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.pipeline import command_counts
from support.waiting import eventually
from tryton_example.test_tryton_integration import CRM, ERP, Crm, Tryton, _settled, processes

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

__all__ = ["processes"]  # the pipeline fixture of the example's main test, used here too


def test_a_crm_delete_archives_the_party_and_a_re_create_makes_it_active_again(tryton_example: TrytonExample,
                                                                               processes: Path) -> None:
    tryton, crm = Tryton(tryton_example), Crm(tryton_example)
    number = f"C-802{random.randrange(10**7):07d}"

    def party_is(name: str, active: bool) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            party = tryton.party(number)  # asserts one party per code at most
            return party if party is not None and (party["name"], party["active"]) == (name, active) else None
        return probe

    crm.create(number, "Archive Probe Ltd")
    party_id = eventually("the customer becomes a party", party_is("Archive Probe Ltd", True), processes)["id"]

    crm.delete(number)
    archived = eventually("the CRM delete archives the party", party_is("Archive Probe Ltd", False), processes)
    assert archived["id"] == party_id

    # Re-created under another name: active again first, renamed in a second call; the same party.
    crm.create(number, "Archive Probe Again")
    again = eventually("the re-created customer makes the party active again",
                       party_is("Archive Probe Again", True), processes)
    assert again["id"] == party_id

    # And once more under the same name: only the re-activation is due.
    crm.delete(number)
    eventually("the second delete archives it again", party_is("Archive Probe Again", False), processes)
    crm.create(number, "Archive Probe Again")
    assert eventually("the second re-create", party_is("Archive Probe Again", True), processes)["id"] == party_id

    before = _settled(tryton_example)
    snapshot = (tryton.parties(number), crm.name(number))
    time.sleep(15)
    assert command_counts(tryton_example.stack.settings.bootstrap_servers, (CRM, ERP)) == before, \
        "commands kept coming after the burst: an echo loop"
    assert (tryton.parties(number), crm.name(number)) == snapshot
    assert [(p["id"], p["active"]) for p in snapshot[0]] == [(party_id, True)]
