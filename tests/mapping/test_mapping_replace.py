"""``replace: {pattern, with}``: a Python regular expression's matches in a text replaced, as a system that normalises
text keeps it (a new user's trial: a ticket shop keeps phones in E.164, ``+49 30 0000125`` as ``+49300000125``; no
transform removed inner spaces, so ``systems.<s>.keeps`` could not say it). Compiled at load; a pattern or a
replacement that cannot work is refused there (with the file, the line, the field and the fix:
test_mapping_load_errors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.mapping.kinds import Kind
from streams.mapping.transforms import BUILTINS, ArgumentProblem, Environment, ReplaceStep, StepInput

pytestmark = pytest.mark.unit

ENV = Environment(schemas=None)  # type: ignore[arg-type]
GIVEN = StepInput(row={}, context=None)  # type: ignore[arg-type]
def replace(args: Any) -> ReplaceStep:
    step = BUILTINS["replace"](args, ENV)
    assert isinstance(step, ReplaceStep)
    return step


@pytest.mark.parametrize(("args", "value", "kept"), [
    ({"pattern": r"\s+", "with": ""}, "+49 30 0000125", "+49300000125"),
    ({"pattern": r"[\s-]+"}, "DE89 3704-0044 0532 0130 00", "DE89370400440532013000"),
    ({"pattern": r"^0049", "with": "+49"}, "0049300000125", "+49300000125"),
    ({"pattern": r"(\d{2})\.(\d{2})\.(\d{4})", "with": r"\3-\2-\1"}, "am 07.12.2026", "am 2026-12-07"),
    ({"pattern": r"(?i)^de", "with": "DE"}, "de100000402", "DE100000402"),
    ({"pattern": r"\s+"}, None, None),
])
def test_every_match_is_replaced(args: dict[str, str], value: str | None, kept: str | None) -> None:
    step = replace(args)
    assert step.apply(value, GIVEN) == kept
    assert step.apply(kept, GIVEN) == kept, "what the system keeps, normalised again, stays as it is"


def test_it_works_on_text_only_and_keeps_whether_the_value_may_be_null() -> None:
    step = replace({"pattern": r"\s+"})
    assert step.out(Kind("string", nullable=True)) == Kind("string", nullable=True)
    assert step.out(Kind("string", nullable=False, symbols=frozenset({"a b"}))) == Kind("string", nullable=False)
    with pytest.raises(ArgumentProblem, match="replace works on text, the value is int") as raised:
        step.out(Kind("int", nullable=False))
    assert "string" in raised.value.fix


@pytest.mark.parametrize(("args", "message", "fix"), [
    ({"pattern": "[0-9"}, "replace: '[0-9' is no regular expression: unterminated character set",
     "Python regular expression"),
    ({"pattern": r"(\d+)", "with": r"\2"}, r"replace: `with` '\\2' does not fit the pattern: invalid group "
     "reference 2", "1 numbered"),
    ({"pattern": r"(?P<area>\d+)", "with": r"\g<zone>"}, "does not fit the pattern: unknown group name 'zone'",
     "area"),
    ({"with": ""}, "replace needs a `pattern`", "replace: {pattern: '\\s+', with: ''}"),
    ({"pattern": ""}, "replace needs a `pattern`", "single quotes"),
    ({"pattern": r"\s", "with": 0}, "replace's `with` is text, not 0", "quote it"),
    ({"pattern": r"\s", "to": ""}, "replace has no option to", "pattern, with"),
    (r"\s+", "replace takes options as a mapping", "pattern, with"),
])
def test_a_replacement_that_cannot_work_is_refused_when_compiled(args: Any, message: str, fix: str) -> None:
    with pytest.raises(ArgumentProblem) as raised:
        BUILTINS["replace"](args, ENV)
    assert message in raised.value.message and fix in raised.value.fix, (raised.value.message, raised.value.fix)
