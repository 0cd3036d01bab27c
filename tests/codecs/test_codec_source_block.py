"""``Source.from_payload`` sets its fields at once, not through the dataclass's ``__init__``: the block it builds
must be the one ``__init__`` builds from the same values, for every captured event and for a source block with
fields this version does not know (kept in ``extra``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from streams.codecs.debezium.envelope import _SOURCE_FIELDS, Source

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"


def _through_init(source: dict[str, Any]) -> Source:
    return Source(
        connector=str(source["connector"]), name=str(source["name"]), version=str(source.get("version", "")),
        db=str(source["db"]), ts_ms=int(source["ts_ms"]), ts_us=source.get("ts_us"),
        snapshot=str(source.get("snapshot") or "false"), schema=source.get("schema") or None,
        table=source.get("table") or None, sequence=source.get("sequence"), tx_id=source.get("txId"),
        lsn=source.get("lsn"), xmin=source.get("xmin"), file=source.get("file"), pos=source.get("pos"),
        row=source.get("row"), gtid=source.get("gtid"), server_id=source.get("server_id"),
        thread=source.get("thread"), query=source.get("query"),
        extra=MappingProxyType({k: v for k, v in source.items() if k not in _SOURCE_FIELDS}))


def _sources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        payload = (json.loads(path.read_text(encoding="utf-8")).get("value") or {}).get("payload") or {}
        if isinstance(payload.get("source"), dict):
            found.append(payload["source"])
    return found


def _same(built: Source, expected: Source) -> None:
    assert built == expected and repr(built) == repr(expected)
    names = [f.name for f in dataclasses.fields(Source)]
    assert [getattr(built, n) for n in names] == [getattr(expected, n) for n in names]
    assert list(vars(built)) == names
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.db = "other"  # type: ignore[misc]


def test_every_captured_source_block_is_built_as_init_builds_it() -> None:
    sources = _sources()
    assert len(sources) > 20
    for source in sources:
        _same(Source.from_payload(source, "fixture"), _through_init(source))


def test_unknown_fields_are_kept_in_extra() -> None:
    source = {**_sources()[0], "ts_ns": 5, "shard": "eu-1", "snapshot": None}
    built = Source.from_payload(source, "fixture")
    _same(built, _through_init(source))
    assert dict(built.extra)["shard"] == "eu-1" and "ts_ns" not in built.extra and built.snapshot == "false"
