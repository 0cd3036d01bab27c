"""An entity's end that a written system would never hear of: ``on_inactive`` is sent only to a system whose
``writes`` list ``active``. A new user's service desk deleted tickets (``active`` false) and nothing happened in the
field service, whose writes could not list ``active`` (its source did not map it): no command, no word. Such a
flow now warns when it is built, naming the system and both fixes (:mod:`streams.flows.customers.config`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.systems import reference_systems

from streams.cli.main import main
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.customers.flow import FLOW_NAME
from streams.flows.files import FLOWS_DIR, FlowFile, load_flow_files
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit

CRM_IGNORES = "      on_inactive: ignore\n"
ERP_WRITES_ACTIVE = "        - active\n"


def _flow(tmp_path: Path, *edits: tuple[str, str]) -> FlowFile:
    """The reference customers flow file with each ``(old, new)`` text replaced once."""
    text = (FLOWS_DIR / "customers.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "customers.yaml").write_text(text, encoding="utf-8")
    (flow,) = [f for f in load_flow_files(tmp_path) if f.name == FLOW_NAME]
    return flow


def test_the_reference_flow_ends_entities_knowingly(mappings: dict[str, RecordMapping],
                                                    schemas: SchemaStore) -> None:
    (flow,) = [f for f in load_flow_files(FLOWS_DIR) if f.name == FLOW_NAME]
    assert entity_config(flow, mappings, schemas.schemas.named, reference_systems()).warnings == ()


def test_a_system_whose_writes_leave_out_active_is_warned_of_naming_both_fixes(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, tmp_path: Path) -> None:
    """The trial's case: the ERP (the field service) does not write ``active``; a CRM delete sets it false."""
    flow = _flow(tmp_path, (ERP_WRITES_ACTIVE, ""), ("blocked, active]", "blocked]"))
    (warning,) = entity_config(flow, mappings, schemas.schemas.named, reference_systems()).warnings
    assert "customers.yaml:" in warning
    assert "entity.systems.erp: erp is to get `deactivate` when the entity ends, but never will" in warning
    assert "crm: a delete there sets active false (crm_customers.on_delete)" in warning
    assert "add it to systems.erp.writes" in warning and "under sources.erp_accounts.fields" in warning
    assert "route for the `deactivate` command" in warning
    assert "set `systems.erp.on_inactive: ignore` knowingly" in warning


def test_without_its_ignore_the_reference_crm_is_warned_of_the_ends_the_erp_decides(
        mappings: dict[str, RecordMapping], schemas: SchemaStore, tmp_path: Path) -> None:
    """The CRM does not write ``active``, and the ERP can end a customer (``active``: latest commit wins)."""
    ends = _flow(tmp_path, (CRM_IGNORES, ""))
    (warning,) = entity_config(ends, mappings, schemas.schemas.named, reference_systems()).warnings
    assert "entity.systems.crm: crm is to get `deactivate`" in warning
    assert "erp: a source of it maps active (erp_accounts)" in warning


def test_validate_prints_the_warning(mappings: dict[str, RecordMapping], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in FLOWS_DIR.glob("*.yaml"):
        shutil.copy(path, flows / path.name)
    _flow(flows, (CRM_IGNORES, ""))
    assert main(["mappings", "validate", "--flows", str(flows)]) == 0
    said = capsys.readouterr().out
    assert "warning: " in said and "crm is to get `deactivate` when the entity ends, but never will" in said
