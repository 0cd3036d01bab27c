"""`isthmus sink` without services: the plan a target file makes, the settings, and a refused file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli.main import main


def test_check_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sink", "--target", "erp", "--check"]) == 0
    out = capsys.readouterr().out
    assert "http target erp" in out and "Account                create     -> POST /accounts" in out
    assert "SalesOrder             cancel     -> PATCH /orders/{erp_order_id}" in out
    assert "consumes isthmus.commands.erp (group isthmus-sink-erp); results to isthmus.results.erp" in out


def test_settings_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sink", "--settings"]) == 0
    out = capsys.readouterr().out
    assert "ISTHMUS_SINK_CONCURRENCY=1024" in out and "ISTHMUS_SINK_TRANSIENT_DEADLINE_S=None" in out


def test_a_bad_target_file_is_refused_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "crm.yaml").write_text("system: crm\nadapter: http\nroutes:\n  - payload_type: Customer\n"
                                       "    operation: update\n    method: PATCH\n    path: /customers/{nr}\n")
    monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path))
    assert main(["sink", "--target", "crm", "--check"]) == 2
    err = capsys.readouterr().err
    assert "crm.yaml:7: routes[0].path: the payload has no field 'nr'" in err and "fix:" in err


def test_a_required_secret_that_is_missing_is_named_never_printed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(__file__).parents[2].joinpath("targets", "erp.yaml").read_text()
    (tmp_path / "erp.yaml").write_text(text.replace("required: false", "required: true"))
    monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path))
    monkeypatch.setenv("ISTHMUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ISTHMUS_ERP_API_TOKEN", raising=False)
    assert main(["sink", "--target", "erp", "--check"]) == 2
    assert "erp.yaml:8: auth header Authorization needs a secret and found none in environment variable " \
           "ISTHMUS_ERP_API_TOKEN or key erp.api.token" in capsys.readouterr().err
    monkeypatch.setenv("ISTHMUS_ERP_API_TOKEN", "t0ps3cret")
    assert main(["sink", "--target", "erp", "--check"]) == 0
    out = capsys.readouterr().out
    assert "auth header Authorization" in out and "t0ps3cret" not in out
