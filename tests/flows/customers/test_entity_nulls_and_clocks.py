"""Null is a value, both ways: a field set to null by the system that wins it is cleared in the other system; a
field the target cannot clear gets no command and one audit record. And same-second edits across the CRM's
microsecond and the ERP's whole-second clocks are settled by what the change proves, in every run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.commands import Cause
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.customers.state import CustomerState
from streams.flows.customers.sync import decide
from streams.flows.exceptions import FlowFileError
from streams.flows.files import FLOWS_DIR, load_flow_files
from streams.mapping import RecordMapping, Stamp

NUMBER = "C-400001"
REFERENCE = (FLOWS_DIR / "customers.yaml").read_text(encoding="utf-8")
ERP_CANNOT_CLEAR = "cannot_clear: [name, credit_limit, payment_terms, blocked, active]"


def _linked(harness: Harness) -> Harness:
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme", email="a@acme.cn", phone="111"))
    harness.settle()
    assert harness.outbox == [] and harness.conflicts() == []
    return harness


@pytest.fixture
def linked(harness: Harness) -> Harness:
    return _linked(harness)


def _flow_text(tmp_path: Path, text: str) -> Path:
    (tmp_path / "customers.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def keeps_email(tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> Harness:
    """The reference flow over an ERP that cannot clear an account's e-mail."""
    text = REFERENCE.replace(ERP_CANNOT_CLEAR, "cannot_clear: [name, email, credit_limit, payment_terms, blocked]")
    assert text != REFERENCE
    (flow,) = load_flow_files(_flow_text(tmp_path, text))
    systems = reference_systems()
    config = entity_config(flow, mappings, schemas.schemas.named, systems)
    return _linked(Harness(flow=CustomerFlow(mappings=mappings, schemas=schemas, systems=systems, config=config,
                                             clock=lambda: SETTLED_AT), schemas=schemas))


# null is a value

def test_a_crm_email_set_to_null_is_cleared_in_the_erp(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.crm_edit(NUMBER, email=None))
    assert sent.route == ("Account", "update") and sent.changed == ("email",) and sent.payload["email"] is None
    linked.settle()  # the ERP's echo (email null) is the echo of that command: nothing more
    assert linked.systems.accounts[NUMBER]["email"] is None and linked.outbox == [] and linked.conflicts() == []
    assert linked.canonical(NUMBER)["email"] is None


def test_a_cleared_field_set_again_is_sent_again(linked: Harness) -> None:
    linked.feed(linked.systems.crm_edit(NUMBER, email=None))
    linked.settle()
    (sent,) = linked.feed(linked.systems.crm_edit(NUMBER, email="new@acme.cn"))
    assert sent.changed == ("email",) and sent.payload["email"] == "new@acme.cn"
    linked.settle()
    assert linked.systems.accounts[NUMBER]["email"] == "new@acme.cn"


def test_an_erp_owned_null_is_cleared_in_the_crm(linked: Harness) -> None:
    """The reference ERP keeps its credit data NOT NULL; an ERP whose credit limit may be null (the record holds
    the ERP's null, the ERP reported it) has it cleared in the CRM, which mirrors it."""
    flow = linked.flow
    state = CustomerState.from_json(NUMBER, linked.stored(NUMBER), flow.config)
    at = SETTLED_AT - dt.timedelta(hours=1)
    state.record["credit_limit"] = None
    state.provenance["credit_limit"] = Stamp(system="erp", commit_time=at)
    state.mirror("erp").observe("credit_limit", None)
    cause = Cause(system="erp", connector="erp", database="erp", table="accounts", row_key="account_id=701",
                  commit_time=at)
    audit: list[Mapping[str, Any]] = []
    (command,) = decide(state, cause, context=flow.context, named=flow.named, audit=audit, settled_at=SETTLED_AT)
    assert (command.target, command.operation, command.changed_fields) == ("crm", "update", ("credit_limit",))
    assert command.payload["credit_limit"] is None and audit == []


def test_a_null_the_erp_wins_by_a_later_commit_is_cleared_in_the_crm(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.erp_edit(NUMBER, phone=None))  # phone: latest_commit_wins
    assert sent.route == ("Customer", "update") and sent.changed == ("phone",) and sent.payload["phone"] is None
    linked.settle()
    assert linked.systems.customers[NUMBER]["phone"] is None and linked.canonical(NUMBER)["phone"] is None


def test_a_null_the_target_cannot_clear_sends_nothing_and_is_audited_once(keeps_email: Harness) -> None:
    systems = keeps_email.systems
    assert keeps_email.feed(systems.crm_edit(NUMBER, email=None)) == []
    (record,) = keeps_email.conflicts()
    assert (record["field"], record["rule"], record["winner"]) == ("email", "cannot_clear", "crm")
    assert record["values"] == {"crm": None, "erp": '"a@acme.cn"'} and set(record["commit_times"]) == {"crm"}
    # another change of the customer: its other fields still flow, the kept e-mail is not audited again
    (sent,) = keeps_email.feed(systems.crm_edit(NUMBER, name="Acme Ltd"))
    assert sent.changed == ("name",)
    keeps_email.settle()
    assert len(keeps_email.conflicts()) == 1 and systems.accounts[NUMBER]["email"] == "a@acme.cn"
    # a value again is sent; a later null is a new difference, audited again
    (sent,) = keeps_email.feed(systems.crm_edit(NUMBER, email="b@acme.cn"))
    assert sent.changed == ("email",)
    keeps_email.settle()
    assert keeps_email.feed(systems.crm_edit(NUMBER, email=None)) == []
    assert [r["values"]["erp"] for r in keeps_email.conflicts()] == ['"a@acme.cn"', '"b@acme.cn"']


def test_cannot_clear_must_name_written_fields(tmp_path: Path, mappings: dict[str, RecordMapping],
                                              schemas: SchemaStore) -> None:
    text = REFERENCE.replace(ERP_CANNOT_CLEAR, "cannot_clear: [name, fax]")
    (flow,) = load_flow_files(_flow_text(tmp_path, text))
    with pytest.raises(FlowFileError) as raised:
        entity_config(flow, mappings, schemas.schemas.named, reference_systems())
    (problem,) = raised.value.problems
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "cannot_clear: [name, fax]" in row)
    assert (problem.field, problem.line) == ("entity.systems.erp.cannot_clear", line)
    assert "'fax' is not written into this system" in problem.message and "writes" in problem.fix


# clocks of different precision

def _at_fraction(harness: Harness, micros: int) -> None:
    """Move the CDC clock so the next CRM edit (it ticks 1 ms) commits ``micros`` into a new second."""
    cdc = harness.systems.cdc
    second = cdc.now.replace(microsecond=0) + dt.timedelta(seconds=1)
    cdc.now = second + dt.timedelta(microseconds=micros) - dt.timedelta(milliseconds=1)


@pytest.mark.parametrize("micros", [1_000, 250_000, 500_000, 999_000])
def test_an_erp_edit_on_top_of_a_crm_edit_in_the_same_second_wins(linked: Harness, micros: int) -> None:
    systems = linked.systems
    _at_fraction(linked, micros)
    linked.feed(systems.crm_edit(NUMBER, phone="222"))
    crm_at = systems.cdc.now
    systems.cdc.now = crm_at - dt.timedelta(seconds=1)  # the ERP's echo and its user's edit: the same second
    linked.settle()
    assert systems.accounts[NUMBER]["phone"] == "222"
    systems.cdc.now = crm_at - dt.timedelta(seconds=1)
    (to_crm,) = linked.feed(systems.erp_edit(NUMBER, phone="333"))
    assert to_crm.route == ("Customer", "update") and to_crm.payload["phone"] == "333"
    linked.settle()
    assert systems.customers[NUMBER]["phone"] == "333" and linked.canonical(NUMBER)["phone"] == "333"
    assert linked.conflicts() == [] and linked.outbox == []


@pytest.mark.parametrize("micros", [1_000, 500_000, 999_000])
def test_a_crm_edit_on_top_of_an_erp_edit_in_the_same_second_wins(linked: Harness, micros: int) -> None:
    systems = linked.systems
    linked.feed(systems.erp_edit(NUMBER, phone="333"))
    erp_second = systems.cdc.now.replace(microsecond=0)
    linked.settle()
    assert systems.customers[NUMBER]["phone"] == "333"
    systems.cdc.now = erp_second + dt.timedelta(microseconds=micros) - dt.timedelta(milliseconds=1)
    (to_erp,) = linked.feed(systems.crm_edit(NUMBER, phone="444"))
    assert to_erp.route == ("Account", "update") and to_erp.payload["phone"] == "444"
    linked.settle()
    assert systems.accounts[NUMBER]["phone"] == "444" and linked.conflicts() == []


def test_unseen_edits_in_the_same_second_go_to_the_owner_and_say_why(linked: Harness) -> None:
    systems = linked.systems
    _at_fraction(linked, 700_000)
    linked.feed(systems.crm_edit(NUMBER, phone="222"))  # not applied to the ERP yet
    systems.cdc.now -= dt.timedelta(seconds=1)
    linked.feed(systems.erp_edit(NUMBER, phone="333"))  # made on the old value, in the same second
    (conflict,) = linked.conflicts()
    assert (conflict["winner"], conflict["rule"]) == ("crm", "owner_on_tie")
    linked.settle()
    assert systems.accounts[NUMBER]["phone"] == "222" and systems.customers[NUMBER]["phone"] == "222"
    assert linked.canonical(NUMBER)["credit_limit"] == Decimal("0.00")
