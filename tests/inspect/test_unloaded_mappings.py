"""The inspection commands run while the mappings do not load (a columns file ``mappings discover`` rewrote no
longer fits them), exactly when an operator needs them: they warn once, naming the load error, and hide every
value (keys by the schemas' personal field names) instead of refusing with ``mapping refused``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_masked_output import LETTERS

from streams.cli import topics
from streams.cli.main import build_parser
from streams.config_files.problem import Problem
from streams.inspect import masking
from streams.inspect.decoding import Decoded, RawRecord
from streams.inspect.masking import MASK
from streams.mapping import MappingLoadError

pytestmark = pytest.mark.unit

PROBLEM = Problem(file=Path("mappings/customer.yaml"), line=12, field="sources[0].bindings.phone",
                  message="column phone is not in crm.customers", fix="read phone_number")
CHANGE = json.dumps({"schema": {"type": "struct"}, "payload": {
    "op": "u", "before": {"id": 7, "name": "Ada", "phone": "1"},
    "after": {"id": 7, "name": "Ada Lovelace", "phone": "2", "city": {"name": "Berlin"}},
    "source": {"connector": "postgresql", "name": "crm", "db": "crm", "schema": "crm", "table": "customers",
               "ts_ms": 1, "snapshot": "false"}, "ts_ms": 1}}).encode()


@pytest.fixture(autouse=True)
def _unloadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(**_: Any) -> None:
        raise MappingLoadError([PROBLEM, PROBLEM])

    monkeypatch.setattr(masking, "load_mappings", refused)
    monkeypatch.setattr(topics, "load_mappings", refused)
    monkeypatch.setattr(topics, "_bootstrap", lambda args: "unused:9092")
    monkeypatch.delenv("ISTHMUS_TOKENS", raising=False)
    monkeypatch.setenv("ISTHMUS_HOME", "/nonexistent-isthmus-home")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    args = build_parser("topics").parse_args(["topics", *argv])
    assert args.run(args) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _warned_once(err: str) -> None:
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1, err
    assert "mappings cannot be loaded, so every value is masked" in warnings[0]
    assert "mapping refused (2 problems)" in warnings[0] and "column phone is not in crm.customers" in warnings[0]
    assert "isthmus mappings validate" in warnings[0]


def test_dlq_list_warns_once_and_still_lists(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(topics, "_entries", lambda args, store: LETTERS)
    out, err = _run(capsys, "dlq", "list", "--json", "--topic", "isthmus.dlq")
    _warned_once(err)
    entities = [json.loads(line)["entity"] for line in out.splitlines()]
    assert entities == ["kd_nr=K-0005", f"email={MASK}", "-"]  # a key names its entity; a personal column not


def _read(records: list[RawRecord]) -> Any:
    def read(*_: Any, **__: Any) -> Iterator[RawRecord]:
        yield from records
    return read


def test_tail_warns_once_and_masks_every_value(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    raw = RawRecord(topic="crm.crm.customers", partition=0, offset=3, timestamp_ms=0, key=b'{"id": 7}', value=CHANGE)
    monkeypatch.setattr(topics, "read", _read([raw, raw]))
    out, err = _run(capsys, "tail", "crm.crm.customers", "--json")
    _warned_once(err)
    first, second = (json.loads(line) for line in out.splitlines())
    assert first == second and first["key"] == {"id": 7}
    value = first["value"]
    assert value["after"] == {"id": MASK, "name": MASK, "phone": MASK, "city": {"name": MASK}}
    assert value["before"] == {"id": MASK, "name": MASK, "phone": MASK}
    assert "Ada" not in out and "Berlin" not in out


def test_trace_warns_once_finds_by_key_and_masks_every_value(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    raw = RawRecord(topic="isthmus.canonical.customers", partition=0, offset=1, timestamp_ms=0, key=b"C-000001",
                    value=b'{"customer_number": "C-000001", "email": "ada@example.com"}')
    given: dict[str, Any] = {}

    def traced(*_: Any, mappings: Any, **__: Any) -> list[Decoded]:
        given["mappings"] = mappings
        return [Decoded(raw=raw, kind="json", key="C-000001", value=json.loads(raw.value or b""))]

    monkeypatch.setattr(topics, "trace", traced)
    monkeypatch.setattr(topics.admin, "topic_names", lambda bootstrap: ["isthmus.canonical.customers"])
    out, err = _run(capsys, "trace", "C-000001", "--json")
    _warned_once(err)
    assert "follows no mapping's references" in err and given["mappings"] == {}
    (line,) = out.splitlines()
    assert json.loads(line)["value"] == {"customer_number": MASK, "email": MASK}
