"""The commands mappings/README.md tells a user to run (re-reading the tables after a mapping change, checking the
files) are commands the CLI takes, with those arguments."""

from __future__ import annotations

import re
import shlex

import pytest

from streams.cli.main import build_parser, command_of
from streams.stack.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "mappings" / "README.md").read_text(encoding="utf-8")
#: `isthmus ...` in backticks, or a line of a code block starting with it; OFFSET/NAME placeholders filled.
COMMANDS = sorted({c.strip() for c in re.findall(r"(?:`|^\s*)isthmus ([^`\n]+)", README, re.M)})


@pytest.mark.parametrize("command", COMMANDS)
def test_a_documented_command_parses(command: str) -> None:
    args = shlex.split(command.replace("OFFSET", "12").replace("NAME", "crm-source"))
    parsed = build_parser(command_of(args)).parse_args(args)
    assert callable(parsed.run)


def test_the_readme_names_the_snapshot_a_mapping_change_needs() -> None:
    assert "connectors snapshot crm-source --tables customers" in COMMANDS
