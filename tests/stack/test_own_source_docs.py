"""README.md, "Connect your own systems", states two rules a new source meets on the reference pair; they are read
here from where they are enforced, so the text cannot drift from them: the stack's MariaDB user may create only
the databases its grants name (another name is made by root over the server's socket, whose path is the stack's),
and the reference ERP accepts only customer numbers and account codes of one shape."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from types import SimpleNamespace

from reference.erp.models import AccountCode, CustomerNumber
from streams.stack.services.erp_db import SCRATCH_DATABASES, ErpDatabase
from streams.stack.settings import PROJECT_ROOT, StackSettings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Connect your own systems"):README.index("## Holds: nothing stuck")]


def _pattern(annotated: typing.Any) -> str:
    (field,) = typing.get_args(annotated)[1:]
    (found,) = [m.pattern for m in field.metadata if hasattr(m, "pattern")]
    return str(found)


def test_the_database_names_the_stacks_mariadb_user_may_create_are_documented() -> None:
    for grant in SCRATCH_DATABASES:  # isthmus\_%: a name starting isthmus_
        prefix = grant.replace("\\_", "_").rstrip("%")
        assert f"`{prefix}…`" in SECTION and f"`{grant}`" in SECTION, grant
    assert "Access denied for user" in SECTION


def test_the_reference_erps_customer_number_and_account_code_rules_are_documented() -> None:
    assert f"`{_pattern(CustomerNumber)}`" in SECTION
    assert f"`{_pattern(AccountCode)}`" in SECTION and "at most 17 digits" in SECTION


def test_a_database_of_another_name_is_made_over_the_stacks_own_socket() -> None:
    run = StackSettings.run_dir.fget(SimpleNamespace(home=Path("HOME")))  # type: ignore[attr-defined]
    socket = ErpDatabase.socket_path.fget(SimpleNamespace(settings=SimpleNamespace(run_dir=run)))  # type: ignore[attr-defined]
    relative = socket.relative_to("HOME").as_posix()
    assert f"`<ISTHMUS_HOME>/{relative}`" in SECTION and f"--socket=.isthmus/{relative}" in SECTION


def test_every_mariadb_command_shown_sends_utf8mb4() -> None:
    """Without it the client's default character set makes an emoji's UPDATE fail with ERROR 1366."""
    commands = [line for line in README.splitlines() if re.match(r"^\S*\bmariadb -", line.strip().strip('"'))]
    assert commands and all("--default-character-set=utf8mb4" in line for line in commands), commands
