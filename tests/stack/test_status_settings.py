"""`isthmus status --settings`: every ISTHMUS_* variable the code reads is listed, secrets hidden."""

from __future__ import annotations

import re
from pathlib import Path

from streams.cli import environment
from streams.stack.settings import PROJECT_ROOT, StackSettings

#: Named in streams/ but not listed, each for the reason given (see streams/cli/environment.py).
NOT_LISTED = {
    "ISTHMUS_STACK": "the test harness's stack mode (streams/stack/harness.py, tests/conftest.py)",
    "ISTHMUS_KEEP_STACK": "the test harness keeps the stack it started",
    "ISTHMUS_ERP_API_TOKEN": "named by targets/erp.yaml (auth.env), quoted in a fix message of the target loader",
}
_NAME = re.compile(r"\bISTHMUS_[A-Z0-9_]*[A-Z0-9]\b")


def _named_in_source() -> dict[str, set[str]]:
    """Every ISTHMUS_* name in streams/ (code, messages, docstrings), with the files that name it."""
    listing = Path(environment.__file__).resolve()
    found: dict[str, set[str]] = {}
    for path in (PROJECT_ROOT / "streams").rglob("*.py"):
        if path.resolve() == listing:
            continue
        for name in _NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(PROJECT_ROOT)))
    return found


def test_every_variable_named_in_streams_is_listed() -> None:
    listed = {v.env for v in environment.variables(StackSettings.from_env({}), {})}
    named = _named_in_source()
    assert {"ISTHMUS_WORKER_PORT", "ISTHMUS_MAVEN_REPO", "ISTHMUS_RESYNC_AT"} <= set(named), "the scan finds reads"
    missing = {name: sorted(files) for name, files in named.items() if name not in listed and name not in NOT_LISTED}
    assert not missing, f"add these to their module's DOCS (or to NOT_LISTED with the reason): {missing}"
    assert not set(NOT_LISTED) & listed
    assert set(NOT_LISTED) <= set(named), "an exception no longer named in streams/ should go"


def test_each_variable_once_with_a_description() -> None:
    found = environment.variables(StackSettings.from_env({}), {})
    names = [v.env for v in found]
    assert len(names) == len(set(names))
    assert all(v.description for v in found)


def test_values_show_what_is_set_and_hide_secrets() -> None:
    env = {"ISTHMUS_WORKER_PORT": "18555", "ISTHMUS_CRM_DB_PASSWORD": "s3cret", "ISTHMUS_TOKENS": "admin:t0k",
           "ISTHMUS_KAFKA_PORT": "29092"}
    found = {v.env: v for v in environment.variables(StackSettings.from_env(env), env)}
    assert found["ISTHMUS_WORKER_PORT"].value == "18555" and found["ISTHMUS_WORKER_PORT"].process == "worker"
    assert found["ISTHMUS_RESYNC_AT"].value is None
    assert found["ISTHMUS_KAFKA_PORT"].value == "29092"
    assert found["ISTHMUS_CRM_API_PORT"].value == "18001", "stack settings show the value they resolve to"
    assert found["ISTHMUS_CRM_DB_PASSWORD"].value == found["ISTHMUS_TOKENS"].value == "***"
    text = "\n".join(environment.render(list(found.values())))
    assert "s3cret" not in text and "t0k" not in text
    assert re.search(r"^  ISTHMUS_RESYNC_AT +\(default\) +UTC time", text, re.M)
    assert text.index("worker:") < text.index("ISTHMUS_WORKER_PORT") < text.index("sink:")

