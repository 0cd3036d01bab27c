"""A row whose change the flow dead-lettered: its next change claims every field it binds, so the fields the lost
change set are not "corrected" back in their owner system to the record's older values (the trial's ERP credit
limit 1234.5678, refused for its decimals, commanded to 0.00 once the account's next edit came)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from customer_events import unmoney
from customer_harness import Harness

from reference.topics import ERP_ACCOUNTS
from streams.flows.customers.missed import MISSED

pytestmark = pytest.mark.unit

NUMBER = "C-470001"


@pytest.fixture
def linked(harness: Harness) -> Harness:
    """A customer created in the CRM, its account created and linked, every echo back."""
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme", email="a@acme.cn"))
    harness.settle()
    assert harness.outbox == [] and harness.conflicts() == []
    return harness


def _refused_by_the_mapping(event: tuple[str, bytes, bytes]) -> tuple[str, bytes, bytes]:
    """``event`` with its after-image's credit limit at scale 4, so that the mapping refuses it (more than 2
    decimals); the row itself holds the value (the next change's before-image shows it)."""
    topic, key, value = event
    document = json.loads(value)
    for block in document["schema"]["fields"]:
        if block["field"] == "after":
            for column in block["fields"]:
                if column["field"] == "credit_limit":
                    column["parameters"] = {**column.get("parameters", {}), "scale": "4"}
    return topic, key, json.dumps(document).encode()


def _missed(harness: Harness) -> dict[str, object]:
    return dict(harness.run.context.memory[MISSED].items())


@pytest.mark.parametrize("lost", ["mapping", "decode"])
def test_the_next_change_of_a_dead_lettered_row_never_sets_its_owner_back(linked: Harness, lost: str) -> None:
    systems = linked.systems
    edit = systems.erp_edit(NUMBER, credit_limit="1234.56")
    fed = _refused_by_the_mapping(edit) if lost == "mapping" else (edit[0], edit[1], b'{"payload": ')
    assert linked.feed(fed) == []
    (letter,) = linked.dead_letters
    assert letter.record.topic == ERP_ACCOUNTS
    marks = _missed(linked)
    assert marks.pop("count") == {"n": 1} and list(marks.values()) == [{"at": letter.record.position}]
    sent = linked.feed(systems.erp_edit(NUMBER, blocked=True))
    # without the mark: Account update [credit_limit] 0.00 to the ERP, which owns it
    assert [s.route for s in sent] == [("Customer", "update")]
    assert set(sent[0].changed) == {"credit_limit", "blocked"} and sent[0].payload["credit_limit"] == "1234.56"
    assert _missed(linked) == {}  # the mark is cleared: the following changes claim what they change
    linked.settle()
    assert linked.outbox == [] and linked.conflicts() == []
    assert linked.canonical(NUMBER)["credit_limit"] == Decimal("1234.56")
    assert unmoney(systems.accounts[NUMBER]["credit_limit"]) == Decimal("1234.56")
    assert systems.crm_view(NUMBER)["blocked"] is True or systems.crm_view(NUMBER)["blocked"] == 1


def test_a_row_with_no_dead_letter_costs_one_look_up_and_claims_what_it_changed(linked: Harness) -> None:
    """No row marked: nothing is stored, and an update claims only what it changed (the CRM's own edit of a field
    the ERP owns is refused and written back to the CRM, as ever)."""
    (sent,) = linked.feed(linked.systems.erp_edit(NUMBER, blocked=True))
    assert sent.route == ("Customer", "update") and sent.changed == ("blocked",)
    assert _missed(linked) == {}


def test_a_change_the_flow_never_read_is_claimed_by_the_rows_next_change(linked: Harness) -> None:
    """An ERP edit the flow never read (filtered out, expired, made before it began; no dead letter marks the
    row): the row's next change shows its value in the before-image too, so it claims nothing of it, but the value
    differs from what the ERP reported last; it is claimed, and the ERP, which owns the credit limit, keeps it."""
    systems = linked.systems
    systems.erp_edit(NUMBER, credit_limit="1234.56")  # made in the ERP, never fed to the flow
    sent = linked.feed(systems.erp_edit(NUMBER, blocked=True))
    # without the claim: Account update [credit_limit] back to the record's 0.00, in the ERP that owns it
    assert [s.route for s in sent] == [("Customer", "update")]
    assert set(sent[0].changed) == {"credit_limit", "blocked"} and sent[0].payload["credit_limit"] == "1234.56"
    linked.settle()
    assert linked.outbox == [] and linked.conflicts() == []
    assert unmoney(systems.accounts[NUMBER]["credit_limit"]) == Decimal("1234.56")
    assert linked.canonical(NUMBER)["credit_limit"] == Decimal("1234.56")
