"""Flow files (flows/*.yaml): the reference flows are files; a file's mistakes name file, line, field and fix;
a block's section is read with the same reporting; a mapping file the section names and the folder lacks makes
the flow unavailable rather than wrong; another folder of flow files runs other flows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.flows.context import FlowContext
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import FLOWS_DIR, FlowFile, Section, load_flow_files
from streams.flows.registry import build_flows
from streams.mapping import load_mappings


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_reference_flows_are_flow_files() -> None:
    flows = {f.name: f.block for f in load_flow_files(FLOWS_DIR, env={})}
    assert flows == {"isthmus-canonical": "publish", "isthmus-customers": "entity", "isthmus-orders": "document",
                     "isthmus-stock": "derived", "isthmus-customer360": "view"}


def test_every_problem_of_every_file_is_named_with_line_field_and_fix(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "name: Bad Name\nblock: teleport\ncolour: blue\n")
    _write(tmp_path, "b.yaml", "name: twice\nblock: derived\n")
    _write(tmp_path, "c.yaml", "name: twice\nblock: derived\n")
    _write(tmp_path, "d.yaml", "name: other\nblock: derived\npublish: {}\n")
    with pytest.raises(FlowFileError) as raised:
        load_flow_files(tmp_path, env={})
    found = {(Path(p.file).name, p.line, p.field): (p.message, p.fix) for p in raised.value.problems}
    assert found[("a.yaml", 1, "name")][0] == "'Bad Name' is not a flow name"
    assert found[("a.yaml", 2, "block")] == ("unknown block 'teleport'", "block: one of entity, document, derived, "
                                                                         "publish, view")
    assert found[("a.yaml", 3, "colour")][0] == "unknown key"
    assert "a section for block 'publish' in a flow of block 'derived'" in found[("d.yaml", 3, "publish")][0]
    assert found[("c.yaml", 1, "name")][0] == "'twice' is also the name of b.yaml"


def test_a_misspelt_block_is_said_once_with_the_block_its_section_names(tmp_path: Path) -> None:
    _write(tmp_path, "k.yaml", "name: kunden\nblock: entiy\nentity:\n  record: customer\n")
    with pytest.raises(FlowFileError) as raised:
        load_flow_files(tmp_path, env={})
    (problem,) = raised.value.problems
    assert (problem.line, problem.field, problem.message) == (2, "block", "unknown block 'entiy'")
    assert problem.fix.startswith("block: entity (the file's section is entity:), or one of entity, document")


def test_a_section_reports_like_the_file_and_missing_mappings_make_the_flow_unavailable(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.yaml", "name: s\nblock: derived\nderived:\n  mapping: nowhere\n  field: 3\n"
                                      "  target: {system: crm, extra: 1}\n")
    (flow,) = load_flow_files(tmp_path, env={})
    section = Section(flow)
    assert section.mapping("mapping", load_mappings()) is None
    section.text("field")
    target = section.section("target")
    assert target is not None
    target.only(("system",))
    with pytest.raises(FlowFileError) as raised:
        section.done()
    shown = [str(p) for p in raised.value.problems]
    assert shown == [f"{path}:5: derived.field: must be text, got 3; fix: write `field: <text>`",
                     f"{path}:6: derived.target.extra: unknown key; fix: use system"]
    section = Section(flow)
    section.mapping("mapping", load_mappings())
    with pytest.raises(FlowUnavailable, match=r"s needs mappings/nowhere\.yaml \(s\.yaml:4 derived\.mapping\)"):
        section.done()


def test_a_folder_of_flow_files_decides_which_flows_a_worker_builds(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOWS_DIR / "canonical.yaml", flows / "canonical.yaml")
    _write(flows, "documents.yaml", "name: my-documents\nblock: publish\n")
    context = FlowContext.load(env={})
    built = build_flows(context, env={"ISTHMUS_FLOWS_DIR": str(flows)})
    assert [f.name for f in built.flows] == ["isthmus-canonical", "my-documents"]
    assert isinstance(load_flow_files(flows, env={})[0], FlowFile)
