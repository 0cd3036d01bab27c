"""README.md, "Connect your own systems", states two rules a new source meets on the reference pair; they are read
here from where they are enforced, so the text cannot drift from them: the stack's MariaDB user may create only
the databases its grants name, and the reference ERP accepts only customer numbers and account codes of one
shape."""

from __future__ import annotations

import typing

from reference.erp.models import AccountCode, CustomerNumber
from streams.stack.services.erp_db import SCRATCH_DATABASES
from streams.stack.settings import PROJECT_ROOT

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
