"""One fetch of a partition holds a full batch of captured Debezium records: a batch the consumer cannot fill
costs a whole transaction for fewer records (the latency bench under load saw 151 records per batch with
aiokafka's 1 MiB default), capping a task's rate at what one transaction per fetch allows."""

from __future__ import annotations

import json
from pathlib import Path

from streams.flows.engine.processor import DEFAULT_BATCH_MAX_RECORDS, EngineSettings

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"


def _wire_size(fixture: Path) -> int:
    """A captured record's key and value as Connect's JSON converter writes them (compact JSON)."""
    captured = json.loads(fixture.read_text(encoding="utf-8"))
    return sum(len(json.dumps(captured[part], separators=(",", ":")).encode()) for part in ("key", "value")
               if captured.get(part) is not None)


def test_a_full_batch_of_the_largest_captured_records_fits_one_fetch() -> None:
    largest = max(_wire_size(f) for f in FIXTURES.glob("*_[cru]_1.json"))
    assert largest > 3000, "the fixtures carry Connect's inline schema"
    settings = EngineSettings(bootstrap_servers="127.0.0.1:9")
    assert settings.max_partition_fetch_bytes >= DEFAULT_BATCH_MAX_RECORDS * largest
