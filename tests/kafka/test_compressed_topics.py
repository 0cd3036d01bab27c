"""Topics whose record batches are compressed, with any of Kafka's codecs, are read like any other: by the flow
engine (aiokafka) and by ``isthmus topics``, the loader and the tests (kafka-python).

A production cluster compresses: a connector's producer (``producer.override.compression.type``), or the broker
itself (a topic's ``compression.type``). A client without a codec's library fails on the first batch it cannot
decompress (aiokafka: ``UnsupportedCodecError``), so a worker would stop at the first compressed CDC record.
"""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaProducer
from support.processes import start_count_worker, stop
from support.topics import probe_topics, read_committed, values_to_end

from streams.stack.running import RunningStack

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 150


def test_records_compressed_with_every_codec_pass_through_the_engine_and_read_back(
        stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    flow, topic_in, topic_out = probe_topics(bootstrap, "compressed", 1)
    sent: list[bytes] = []
    for codec in CODECS:  # one producer per codec: each writes batches compressed its way into the same partition
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec, linger_ms=20)
        for i in range(PER_CODEC):
            value = f"{codec}-{i:04d}-".encode() + b"x" * 200  # compressible, as a Debezium record's schema is
            producer.send(topic_in, key=codec.encode(), value=value)
            sent.append(value)
        producer.flush()
        producer.close()

    assert values_to_end(bootstrap, topic_in) == sent  # kafka-python reads every codec

    log = tmp_path / "worker.log"
    worker = start_count_worker({"COUNT_BROKER": bootstrap, "COUNT_FLOW": flow, "COUNT_IN": topic_in,
                                 "COUNT_OUT": topic_out}, log)
    try:
        values = read_committed(bootstrap, topic_out, at_least=len(sent), timeout=120, worker=worker)
    finally:
        stop(worker)
    assert "UnsupportedCodecError" not in log.read_text(), log.read_text()[-3000:]
    # The engine read each codec's records in order and counted them per key (the codec).
    expected = [value + b"|" + str(i % PER_CODEC + 1).encode() for i, value in enumerate(sent)]
    assert [v or b"" for v in values] == expected
