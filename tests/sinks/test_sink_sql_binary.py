"""A SQL target's binary column (PostgreSQL BYTEA, MariaDB BLOB/VARBINARY): the payload holds its bytes as base64
text, and the row written holds the bytes again, not the bytes of the text."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest

from streams.sinks.adapters.sql import binary_columns, jsonable, prepare
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.outcomes import Failed
from streams.sinks.records import SinkCommand


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent("""\
        system: crm
        adapter: sql
        routes:
          - payload_type: ProductAvailability
            operation: upsert
            table: public.stock
            key: [sku]
            columns: {sku: sku, photo: available_qty}
        """), encoding="utf-8")
    return load_target(path, writable=["crm"])


def _command(value: object) -> SinkCommand:
    return SinkCommand(command_id="c", idempotency_key="k", target="crm", operation="upsert",
                       entity_type="isthmus.canonical.Product", entity_key="S-1",
                       payload_type="isthmus.canonical.ProductAvailability",
                       payload={"sku": "S-1", "available_qty": value})


def test_binary_columns_are_found_by_their_data_type_in_either_engine() -> None:
    types = {"sku": "text", "photo": "bytea", "blob": "MEDIUMBLOB", "raw": "varbinary", "n": "integer"}
    assert binary_columns(types) == {"photo", "blob", "raw"}


def test_base64_text_for_a_binary_column_is_written_as_its_bytes(config: TargetConfig) -> None:
    prepared = prepare(config, _command(base64.b64encode(b"\x00\xffPNG").decode()), {"public.stock": {"photo"}})
    assert not isinstance(prepared, Failed)
    assert prepared[1] == {"sku": "S-1", "photo": b"\x00\xffPNG"}
    unknown = prepare(config, _command("AP9QTkc="), {})
    assert not isinstance(unknown, Failed) and unknown[1]["photo"] == "AP9QTkc=", "a text column keeps the text"


def test_text_that_is_not_base64_for_a_binary_column_is_refused_naming_it(config: TargetConfig) -> None:
    refused = prepare(config, _command("not base64!"), {"public.stock": {"photo"}})
    assert isinstance(refused, Failed) and refused.error_type == "NotBase64"
    assert "public.stock.photo is a binary column" in refused.reason and "'not base64!'" in refused.reason


def test_an_answer_row_holding_bytes_shows_them_as_base64() -> None:
    assert jsonable({"sku": "S-1", "photo": b"\x00\xffPNG"}) == {"sku": "S-1", "photo": "AP9QTkc="}
