"""One fetch of a partition holds a full batch of captured Debezium records as the connectors write them: a batch
the consumer cannot fill costs a transaction for fewer records (the latency bench under load saw 151 records per
batch with aiokafka's 1 MiB default and uncompressed records), and a fetch far larger than a batch only holds
memory (16 MiB of lz4 batches held ~80,000 records: 48 MiB of the customer worker's peak in a bulk load)."""

from __future__ import annotations

import json
from pathlib import Path

import lz4.frame
import pytest

from streams.capture import configs
from streams.flows.engine.processor import DEFAULT_BATCH_MAX_RECORDS, EngineSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "codecs" / "fixtures"
#: Records per producer batch the compression ratio is taken over (connect-configs/README.md, "Compression").
PRODUCER_BATCH = 500
#: Real payloads differ more from record to record than the fixtures cycled: the batch must fit this many times.
MARGIN = 4


def _wire(fixture: Path) -> bytes:
    """A captured record's key and value as Connect's JSON converter writes them (compact JSON)."""
    captured = json.loads(fixture.read_text(encoding="utf-8"))
    return b"".join(json.dumps(captured[part], separators=(",", ":")).encode() for part in ("key", "value")
                    if captured.get(part) is not None)


def test_every_source_connector_compresses_its_batches_in_every_environment() -> None:
    environments = configs.environments()
    assert environments
    for env in environments:
        loaded = configs.load(env=env)
        assert loaded.names
        for name in loaded.names:
            rendered = loaded.render(name, {}).config
            assert rendered.get("producer.override.compression.type") in {"lz4", "zstd", "snappy", "gzip"}, (env, name)


def test_a_full_batch_of_captured_records_fits_one_fetch_as_the_connectors_compress_them() -> None:
    records = [_wire(f) for f in sorted(FIXTURES.glob("*_[cru]_1.json"))]
    assert max(map(len, records)) > 3000, "the fixtures carry Connect's inline schema"
    batch = [records[n % len(records)] for n in range(DEFAULT_BATCH_MAX_RECORDS)]
    compressed = sum(len(lz4.frame.compress(b"".join(batch[at:at + PRODUCER_BATCH])))
                     for at in range(0, len(batch), PRODUCER_BATCH))
    settings = EngineSettings(bootstrap_servers="127.0.0.1:9")
    assert compressed * MARGIN <= settings.max_partition_fetch_bytes
    uncompressed = sum(map(len, batch))
    assert uncompressed > settings.max_partition_fetch_bytes, "the bound is set for compressed topics"
