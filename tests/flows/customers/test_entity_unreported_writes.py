"""A field Isthmus writes into a system whose own source does not map it (a new user's flow file listed
``active`` in the ERP's ``writes`` while the ERP's source of the record did not bind it). The ERP never reports
the field, so each command of it stays in flight; after a soft delete was undone (``active`` false, then true
again) the flow sent ``update ('active',)`` once more on every echo of the account row: 1,075 times a minute.

The flow must not loop even so: a value commanded and not contradicted by what the system reports is what the
system will hold, so it is not sent again (:meth:`Mirror.command`). And such a flow file is refused at load,
naming the file, the line, the field and the fix (:mod:`streams.flows.customers.config`)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.customers.config import reference_config
from streams.flows.customers.flow import FLOW_NAME
from streams.flows.customers.mirror import Mirror
from streams.flows.exceptions import FlowFileError
from streams.flows.files import FLOWS_DIR, load_flow_files
from streams.mapping import RecordMapping, load_mappings

pytestmark = pytest.mark.unit

NUMBER = "C-470001"
#: The binding the new user's ERP source lacked (mappings/customer.yaml, sources.erp_accounts.fields).
ERP_ACTIVE = "      active: {from: active, transform: [bool]}\n"


@pytest.fixture(scope="module")
def unmapped(schemas: SchemaStore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RecordMapping]:
    """The repository's mappings with the ERP's source of the customer not mapping ``active``."""
    folder = tmp_path_factory.mktemp("unreported") / "mappings"
    shutil.copytree(Path(__file__).parents[3] / "mappings", folder, ignore=shutil.ignore_patterns("examples"))
    customer = folder / "customer.yaml"
    text = customer.read_text(encoding="utf-8")
    assert text.count(ERP_ACTIVE) == 1
    customer.write_text(text.replace(ERP_ACTIVE, ""), encoding="utf-8")
    return load_mappings(folder, schemas=schemas.schemas)


def _unloadable(config: EntityConfig, unmapped: dict[str, RecordMapping]) -> EntityConfig:
    """The reference flow's section over the record mapping that does not map the ERP's ``active``: what a
    flow built before that was refused at load ran with."""
    return dataclasses.replace(config, record=unmapped["customer"])


def test_a_soft_delete_undone_is_sent_once_though_the_system_never_reports_it(
        mappings: dict[str, RecordMapping], unmapped: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    systems = reference_systems()
    config = _unloadable(reference_config(mappings, schemas.schemas.named, systems, FLOW_NAME), unmapped)
    assert "active" in config.written["erp"].writes
    assert not any("active" in s.bindings for s in config.record.sources if s.system == "erp")
    harness = Harness(flow=CustomerFlow(mappings=unmapped, schemas=schemas, systems=systems, config=config,
                                        clock=lambda: SETTLED_AT), schemas=schemas)
    crm = harness.systems
    harness.feed(crm.crm_create(NUMBER, name="Acme"))
    harness.settle()
    (deactivate,) = harness.feed(crm.crm_delete(NUMBER))
    assert deactivate.route == ("Account", "deactivate")
    harness.settle()
    assert crm.accounts[NUMBER]["active"] == 0
    # the soft delete undone: the customer is back, the ERP gets active true once
    erp = [s for s in harness.feed(crm.crm_create(NUMBER, name="Acme")) if s.topic.endswith(".erp")]
    assert [(s.route, s.changed) for s in erp] == [(("Account", "update"), ("active",))]
    applied = harness.settle(limit=10)  # looped before: each echo of the account row sent the update again
    assert [s.route for s in applied if s.topic.endswith(".erp")] == [("Account", "update")]
    assert crm.accounts[NUMBER]["active"] == 1
    # any later change of the account row (an ERP user's edit) sends nothing about active either
    assert [s.changed for s in harness.feed(crm.erp_edit(NUMBER, account_code="AC-470001"))] == []


def test_a_value_commanded_again_after_another_is_the_last_in_flight() -> None:
    mirror = Mirror(system="erp", reported={"active": None})
    mirror.command("active", True)  # the create
    mirror.command("active", False)  # the soft delete
    mirror.command("active", True)  # undone
    mirror.command("active", True)  # what is already last in flight is not queued twice
    assert mirror.pending == {"active": [True, False, True]}
    assert mirror.expected("active") is True and not mirror.differs("active", True)
    # each echo settles its own command, in order: no edit is seen in between
    assert mirror.observe("active", True) is True and mirror.expected("active") is True
    assert mirror.observe("active", False) is True and mirror.expected("active") is True
    assert mirror.observe("active", True) is True and mirror.pending == {}


def _erp_writes_line(flow_text: str, field: str) -> int:
    lines = flow_text.splitlines()
    erp = lines.index("    erp:")
    return next(n for n, line in enumerate(lines[erp:], erp + 1) if line.strip() == f"- {field}")


def test_a_written_field_no_source_of_the_system_maps_is_refused_at_load(
        unmapped: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    (flow,) = [f for f in load_flow_files(FLOWS_DIR) if f.name == FLOW_NAME]
    with pytest.raises(FlowFileError) as raised:
        entity_config(flow, unmapped, schemas.schemas.named, reference_systems())
    (problem,) = raised.value.problems
    line = _erp_writes_line(flow.path.read_text(encoding="utf-8"), "active")
    assert (problem.file, problem.line, problem.field) == (flow.path, line, "entity.systems.erp.writes")
    assert problem.message.startswith("lists active, but no source of erp in mappings/customer.yaml maps it, "
                                      "so Isthmus cannot see what erp holds")
    assert "`active: {from: <column>}`" in problem.fix and "sources.erp_accounts.fields" in problem.fix
    assert "take it out of writes" in problem.fix
    assert str(problem).startswith(f"flows/customers.yaml:{line}: entity.systems.erp.writes: lists active")


def test_a_system_with_no_source_of_the_record_is_a_write_only_target_and_not_refused(
        mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    record = mappings["customer"]
    without_erp = dataclasses.replace(record, sources=tuple(s for s in record.sources if s.system != "erp"))
    (flow,) = [f for f in load_flow_files(FLOWS_DIR) if f.name == FLOW_NAME]
    config = entity_config(flow, {**mappings, "customer": without_erp}, schemas.schemas.named, reference_systems())
    assert "active" in config.written["erp"].writes


def test_a_field_another_system_can_win_that_writes_leaves_out_is_refused_at_load(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, tmp_path: Path) -> None:
    """A new user's ERP owned credit_limit under latest_commit_wins, and the shop's edit of it won the record
    while the ERP, whose writes left it out, kept its own: 5,555 in the record, 74,911 in the ERP, no word."""
    (flow,) = [f for f in load_flow_files(FLOWS_DIR) if f.name == FLOW_NAME]
    text = flow.path.read_text(encoding="utf-8")
    # the CRM reports credit_limit (its source maps it); the ERP owns it, and may win it in the CRM
    changed = tmp_path / "customers.yaml"
    changed.write_text(text.replace("writes: [erp_account_id, name, email, phone, credit_limit, payment_terms, "
                                    "blocked]", "writes: [erp_account_id, name, email, phone, payment_terms, "
                                    "blocked]"), encoding="utf-8")
    (edited,) = [f for f in load_flow_files(tmp_path) if f.name == FLOW_NAME]
    with pytest.raises(FlowFileError) as raised:
        entity_config(edited, mappings, schemas.schemas.named, reference_systems())
    (problem,) = raised.value.problems
    assert problem.field == "entity.systems.crm.writes"
    assert problem.message.startswith("leaves out credit_limit, which crm reports (a source of crm in "
                                      "mappings/customer.yaml maps it) and erp can win (owner_wins, owner erp)")
    assert "add credit_limit to writes" in problem.fix
