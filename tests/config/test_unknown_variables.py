"""An ``ISTHMUS_*`` variable no setting reads is a typo or a retired name: `isthmus` warns of it once, with the
closest name, and runs on (a mistyped ``ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FIL`` was silently ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli import main as cli

pytestmark = pytest.mark.unit


def test_each_unknown_variable_is_named_once_with_the_closest_and_the_command_runs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "billing.yaml").write_text("http:\n  auth:\n    env: ISTHMUS_BILLING_API_TOKEN\n", encoding="utf-8")
    for name, value in {"ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FIL": "/run/secrets/key-password", "ISTHMUS_FROBNICATE": "1",
                        "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path), "ISTHMUS_BILLING_API_TOKEN": "t",
                        "ISTHMUS_WORKER_PORT": "18090", "ISTHMUS_STACK": "external"}.items():
        monkeypatch.setenv(name, value)
    ran = []
    monkeypatch.setattr(cli, "build_parser", lambda command: _Parser(ran))
    assert cli.main(["anything"]) == 0 and ran == [True]
    warned = capsys.readouterr().err.splitlines()
    assert warned == [
        "isthmus: warning: ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FIL is not a setting of Isthmus and is ignored; did you "
        "mean ISTHMUS_CONNECT_SSL_KEY_PASSWORD_FILE? (`isthmus status --settings` lists every variable)",
        "isthmus: warning: ISTHMUS_FROBNICATE is not a setting of Isthmus and is ignored (`isthmus status "
        "--settings` lists every variable)",
    ], "a target file's token variable, the harness's and the settings' own are known"


class _Parser:
    """A parser whose one command records that it ran."""

    def __init__(self, ran: list[bool]) -> None:
        self.ran = ran

    def parse_args(self, given: list[str]) -> object:
        class Args:
            config = None

            @staticmethod
            def run(args: object) -> int:
                self.ran.append(True)
                return 0
        return Args()
