"""Topics whose record batches are compressed, with any of Kafka's codecs, are read like any other: by the flow
engine (aiokafka) and by ``isthmus topics``, the loader and the tests (kafka-python).

A production cluster compresses: a connector's producer (``producer.override.compression.type``), or the broker
itself (a topic's ``compression.type``); Isthmus's own producers as ``kafka.compression_type`` says (none by
default, as Kafka's). A client without a codec's library fails on the first batch it cannot decompress (aiokafka:
``UnsupportedCodecError``), so a worker would stop at the first compressed CDC record.
"""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaProducer
from support.processes import start_count_worker, stop
from support.topics import log_bytes, probe_topics, read_committed, values_to_end

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


def test_the_engine_writes_its_batches_with_the_configured_codec(stack: RunningStack, tmp_path: Path) -> None:
    """The same records take a fraction of the log compressed: the engine's output and changelog with zstd, against
    its input written uncompressed; with ``none`` the output takes what the input does."""
    bootstrap = stack.settings.bootstrap_servers
    sizes: dict[str, tuple[int, int, int]] = {}
    for codec in ("zstd", "none"):
        flow, topic_in, topic_out = probe_topics(bootstrap, f"codec-{codec}", 1)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=None, linger_ms=20)
        sent = [f"{i:05d}-".encode() + b"x" * 400 for i in range(PER_CODEC * 4)]
        for value in sent:
            producer.send(topic_in, key=b"k", value=value)
        producer.flush()
        producer.close()
        log = tmp_path / f"worker-{codec}.log"
        worker = start_count_worker({"COUNT_BROKER": bootstrap, "COUNT_FLOW": flow, "COUNT_IN": topic_in,
                                     "COUNT_OUT": topic_out, "COUNT_COMPRESSION": codec}, log)
        try:
            values = read_committed(bootstrap, topic_out, at_least=len(sent), timeout=120, worker=worker)
        finally:
            stop(worker)
        assert [v or b"" for v in values] == [v + b"|" + str(i + 1).encode() for i, v in enumerate(sent)]
        sizes[codec] = (log_bytes(bootstrap, topic_in), log_bytes(bootstrap, topic_out),
                        log_bytes(bootstrap, f"{flow}-counts-changelog"))
    (zstd_in, zstd_out, zstd_changelog), (none_in, none_out, _) = sizes["zstd"], sizes["none"]
    assert zstd_out * 4 < zstd_in, sizes  # ~600 records of ~420 bytes: the compressed batches a fraction of them
    assert zstd_changelog > 0, sizes
    assert none_out >= none_in * 0.9, sizes  # uncompressed: the records, their count and transaction markers
