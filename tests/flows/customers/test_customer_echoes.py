"""Echo suppression and the fixed point: what Isthmus wrote comes back through CDC and produces nothing;
after a burst of edits on both sides the systems agree and no further command is produced."""

from __future__ import annotations

import random
from collections.abc import Callable

from customer_events import unmoney
from customer_harness import Harness

from reference.topics import CRM_CUSTOMERS, ERP_ACCOUNTS

NUMBER = "C-500001"


def _agree(harness: Harness, number: str) -> None:
    """Both systems hold the reconciled value of every field Isthmus writes into them."""
    customer = harness.canonical(number)
    account = harness.systems.accounts[number]
    crm = harness.systems.customers[number]
    for name in ("name", "email", "phone", "payment_terms"):
        assert account[name] == customer[name], name
    assert unmoney(account["credit_limit"]) == customer["credit_limit"] == unmoney(crm["credit_limit"])
    assert crm["payment_terms"] == account["payment_terms"]
    assert bool(crm["blocked"]) == bool(account["blocked"]) == customer["blocked"]
    assert crm["erp_account_id"] == account["account_id"] == customer["erp_account_id"]
    assert (crm["name"], crm["email"], crm["phone"]) == (customer["name"], customer["email"], customer["phone"])


def test_echoes_of_every_command_produce_nothing(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme", email="a@acme.cn"))
    applied = harness.settle()
    # the ERP create, and the CRM's one update: the link with the defaults the ERP filled in
    assert len(applied) == 2 and harness.outbox == []
    _agree(harness, NUMBER)


def test_stale_echoes_of_quick_edits_are_not_taken_for_edits(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="A"))
    harness.settle()
    sent = harness.feed(systems.crm_edit(NUMBER, name="B"), systems.crm_edit(NUMBER, name="C"))
    assert [s.payload["name"] for s in sent] == ["B", "C"]
    harness.settle()
    assert harness.conflicts() == [] and harness.outbox == []
    assert systems.accounts[NUMBER]["name"] == "C" and harness.canonical(NUMBER)["name"] == "C"
    assert len(harness.sent) == 4  # create, link with the ERP defaults, B, C


def test_a_snapshot_of_both_systems_after_the_fixed_point_sends_nothing(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    harness.feed(systems.erp_edit(NUMBER, credit_limit="100.00", name="Bad"))
    harness.settle()
    cdc = systems.cdc
    again = harness.feed(cdc.record(CRM_CUSTOMERS, "r", before=None, after=systems.customers[NUMBER]),
                         cdc.record(ERP_ACCOUNTS, "r", before=None, after=systems.accounts[NUMBER]))
    assert again == []


def test_a_burst_of_edits_on_both_sides_converges(harness: Harness) -> None:
    """Edits on both sides, interleaved with the sinks applying some commands and the echoes coming back;
    when the edits stop and every echo has returned, the systems agree and nothing more is sent."""
    systems = harness.systems
    numbers = [f"C-5100{i:02d}" for i in range(4)]
    for number in numbers:
        harness.feed(systems.crm_create(number, name=f"Customer {number}", email=f"{number.lower()}@acme.cn"))
    harness.settle()
    chance = random.Random(20260310)
    crm_fields: dict[str, Callable[[], object]] = {
        "name": lambda: f"Name {chance.randint(1, 5)}",
        "email": lambda: f"e{chance.randint(1, 5)}@x.cn",
        "phone": lambda: f"+86 {chance.randint(100, 105)}",
        "credit_limit": lambda: f"{chance.randint(1, 3)}00.00",
    }
    erp_fields: dict[str, Callable[[], object]] = {
        "name": lambda: f"ERP {chance.randint(1, 5)}",
        "phone": lambda: f"+86 {chance.randint(100, 105)}",
        "credit_limit": lambda: f"{chance.randint(1, 9)}000.00",
        "payment_terms": lambda: "NET60",
        "blocked": lambda: chance.random() < 0.5,
    }
    for _ in range(120):
        number = chance.choice(numbers)
        roll = chance.random()
        if roll < 0.35:
            name = chance.choice(list(crm_fields))
            harness.feed(systems.crm_edit(number, **{name: crm_fields[name]()}))
        elif roll < 0.7:
            name = chance.choice(list(erp_fields))
            harness.feed(systems.erp_edit(number, **{name: erp_fields[name]()}))
        elif harness.outbox:
            # the sinks apply a few commands; their echoes come back
            for _ in range(chance.randint(1, 3)):
                if harness.outbox:
                    sent = harness.outbox.pop(0)
                    for echo in systems.apply(sent):
                        harness.feed(echo)
    harness.settle(limit=500)
    assert harness.outbox == [] and harness.dead_letters == []
    for number in numbers:
        _agree(harness, number)
    settled = len(harness.sent)
    cdc = systems.cdc
    for number in numbers:
        harness.feed(cdc.record(CRM_CUSTOMERS, "r", before=None, after=systems.customers[number]),
                     cdc.record(ERP_ACCOUNTS, "r", before=None, after=systems.accounts[number]))
    assert len(harness.sent) == settled
    assert harness.conflicts(), "the burst should have settled conflicts"


def test_phone_won_by_the_erp_reaches_the_crm(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme", phone="111"))
    harness.settle()
    (sent,) = harness.feed(systems.erp_edit(NUMBER, phone="999"))
    assert sent.route == ("Customer", "update") and sent.changed == ("phone",) and sent.payload["phone"] == "999"
    harness.settle()
    assert harness.outbox == [] and harness.conflicts() == []
    assert harness.canonical(NUMBER)["phone"] == "999"
    assert systems.customers[NUMBER]["phone"] == "999"
