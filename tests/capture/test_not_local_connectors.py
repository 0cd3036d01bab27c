"""On a Kafka Connect that several environments share, `isthmus connectors pause|resume|restart|delete` acts only
on the connectors its configs folder holds: a trial's staging configuration paused prod's `crm-source` by its name,
unwarned. Another one's takes `--not-local`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.cli.main import main

pytestmark = pytest.mark.unit

CONFIGS = Path(__file__).parents[2] / "connect-configs"


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configs folder of staging's own: the reference CRM connector renamed crm-source-stg."""
    root = tmp_path / "connect-configs"
    (root / "connectors").mkdir(parents=True)
    shutil.copytree(CONFIGS / "overlays", root / "overlays")
    text = (CONFIGS / "connectors" / "crm-source.yaml").read_text(encoding="utf-8")
    (root / "connectors" / "crm-source-stg.yaml").write_text(text.replace("name: crm-source", "name: crm-source-stg"))
    monkeypatch.setenv("ISTHMUS_CONNECT_URLS", "http://127.0.0.1:9")  # nothing answers: no call may be made
    return root


@pytest.mark.parametrize("verb", ["pause", "resume", "restart", "delete"])
def test_a_connector_the_configs_folder_does_not_hold_is_refused_naming_the_fix(
        staging: Path, verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectors", verb, "crm-source", "--configs", str(staging)]) == 2
    error = capsys.readouterr().err
    assert f"crm-source: no such connector in {staging / 'connectors'} (it holds crm-source-stg)" in error
    assert "nothing was done" in error and f"give --not-local to {verb} it anyway" in error


def test_not_local_acts_on_it_anyway(staging: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --not-local the command goes to Connect (which does not answer here: its own error, not the refusal)."""
    main(["connectors", "pause", "crm-source", "--not-local", "--configs", str(staging), "--timeout", "1"])
    assert "no such connector in" not in capsys.readouterr().err
