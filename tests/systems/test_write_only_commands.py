"""The commands that iterate systems, on a project with a write-only system (``capture: none``): what is about
capture leaves it out, and names it, when asked for it, with a message rather than a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.cli.main import main

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[2] / "examples" / "tryton"
SAAS = "description: a SaaS API\ncapture: none\nwritable: true\ntarget: targets/saas.yaml\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Tryton example's project, with a write-only ``saas`` beside its captured system."""
    for folder in ("connect-configs", "systems", "targets"):
        shutil.copytree(EXAMPLE / folder, tmp_path / folder)
    (tmp_path / "systems" / "saas.yaml").write_text(SAAS)
    (tmp_path / "targets" / "saas.yaml").write_text("system: saas\nadapter: http\n")
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(tmp_path / "systems"))
    return tmp_path


def test_connectors_validate_leaves_a_write_only_system_out_and_refuses_its_name(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configs = str(project / "connect-configs")
    assert main(["connectors", "validate", "--offline", "--configs", configs]) == 0
    assert "saas" not in capsys.readouterr().out
    assert main(["connectors", "validate", "--offline", "--configs", configs, "saas"]) == 2
    assert ("saas is a system Isthmus only writes into (capture: none in " in capsys.readouterr().err)


def test_mappings_discover_says_there_is_nothing_to_discover(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "discover", "saas"]) == 0
    assert main(["mappings", "discover", "saas", "--check"]) == 0
    out = capsys.readouterr().out
    assert "saas is written only (capture: none in " in out and "there is nothing to discover" in out
    assert not (project / "systems" / "saas.columns.yaml").exists()


def test_connectors_validate_names_every_problem_of_systems_that_do_not_load(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial copied systems/ to a folder of its own: the warning said only "systems refused (2 problems):;" and
    sent it to `isthmus mappings validate`, which found nothing (the problem: each `target:` path is relative to the
    systems folder's parent, where no targets/ was)."""
    shutil.rmtree(project / "targets")
    main(["connectors", "validate", "--offline", "--configs", str(project / "connect-configs")])
    said = " ".join(capsys.readouterr())
    assert "do not load: systems refused" in said
    assert f"{project / 'systems' / 'saas.yaml'}:4: target: no file {project / 'targets' / 'saas.yaml'}" in said
