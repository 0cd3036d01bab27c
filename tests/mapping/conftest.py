"""Shared fixtures of the mapping tests: schemas, the repository's mappings, scratch mapping files,
captured Debezium events and an in-memory cross-reference.

Helpers are handed out as fixtures (this folder has no ``__init__.py``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support.systems import reference_systems

from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.mapping import Context, RecordMapping, load_mapping, load_mappings

CAPTURED = Path(__file__).resolve().parents[1] / "codecs" / "fixtures"


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return load_schemas()


@pytest.fixture(scope="session")
def mappings(schemas: SchemaSet) -> dict[str, RecordMapping]:
    return load_mappings(schemas=schemas)


@pytest.fixture
def write_mapping(tmp_path: Path) -> Callable[[str], Path]:
    """Write a mapping file (dedented) and return its path."""
    count = iter(range(1000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"mapping_{next(count)}.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(schemas: SchemaSet, write_mapping: Callable[[str], Path]) -> Callable[..., RecordMapping]:
    def loaded(text: str, **kwargs: Any) -> RecordMapping:
        return load_mapping(write_mapping(text), schemas=schemas, **kwargs)

    return loaded


@pytest.fixture
def captured() -> Callable[[str], ChangeEvent]:
    def event(name: str) -> ChangeEvent:
        data = json.loads((CAPTURED / f"{name}.json").read_text(encoding="utf-8"))
        record = decode(json.dumps(data["value"]).encode(), json.dumps(data["key"]).encode(), topic=data["topic"])
        assert isinstance(record, ChangeEvent)
        return record

    return event


class Xref:
    """The cross-reference as the flows would provide it: records by any field."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str, Any]] = []

    def add(self, record: str, **values: Any) -> None:
        self.records.setdefault(f"isthmus.canonical.{record}", []).append(values)

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        self.calls.append((record, by, key))
        return next((r for r in self.records.get(record, []) if r.get(by) == key), None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)


@pytest.fixture
def xref() -> Xref:
    table = Xref()
    table.add(
        "CustomerAccountXref", customer_number="C-990001", crm_customer_id=5, erp_account_id=5, account_code="FX-990001"
    )
    table.add("SalesOrder", order_number="SO-990001", crm_order_id=5, erp_order_id=5)
    return table


@pytest.fixture
def context(xref: Xref) -> Context:
    return Context.of(reference_systems("Asia/Shanghai"), lookup=xref)
