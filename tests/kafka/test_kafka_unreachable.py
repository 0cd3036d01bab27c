"""Kafka killed: a trial's workers answered /health ok and /ready true 40 s later, and their logs held thousands of
aiokafka ERRORs ``Unable connect to node with id 1`` (7,442 in a worker, 1,536 in a sink) and no line saying Kafka
was unreachable. Now those records are DEBUG, a few Isthmus lines say what they mean, and the worker's /ready and
/health say so (streams/kafka/reachability.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.kafka.reachability import CLIENT_LOGGER, UnreachableKafka, watch_connections
from streams.worker.web import build_app

pytestmark = pytest.mark.unit

SERVERS = ["kafka-1.club.example:9092", "kafka-2.club.example:9092"]
REFUSED = OSError(111, "Connect call failed ('10.0.0.7', 9092)")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watched(clock: Clock) -> tuple[logging.Logger, UnreachableKafka]:
    """aiokafka's client logger as the sink or worker has it: the watch installed on it (once, however often)."""
    logger = logging.getLogger(CLIENT_LOGGER)
    for installed in [f for f in logger.filters if isinstance(f, UnreachableKafka)]:
        logger.removeFilter(installed)
    watching = watch_connections(SERVERS)
    assert watch_connections() is watching and watching.servers == ", ".join(SERVERS)
    watching._clock = clock
    return logger, watching


def test_failed_connections_become_one_warning_a_summary_every_30_s_and_one_info_when_back(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger, _ = _watched(clock)
    with caplog.at_level(logging.INFO):
        for _ in range(40 * 16):  # 40 s of aiokafka retrying, 16 failed connections a second
            logger.error("Unable connect to node with id %s: %s", 1, REFUSED)
            clock.now += 1 / 16
        logger.error("Unable to update metadata from %s", [1])
        logger.error("something else aiokafka says")
        clock.now += 11
        watch_connections().check()
    aiokafka = [r for r in caplog.records if r.name == CLIENT_LOGGER]
    assert [r.getMessage() for r in aiokafka] == ["something else aiokafka says"]  # the rest: DEBUG, dropped
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "isthmus.kafka"]
    assert said == [
        ("WARNING", f"Kafka unreachable: cannot connect to {', '.join(SERVERS)} (Unable connect to node with id 1: "
                    f"{REFUSED}); the clients keep retrying, and the failed attempts are counted here every 30 s"),
        ("WARNING", f"Kafka still unreachable at {', '.join(SERVERS)} for 30 s: 480 failed connection attempts in "
                    "the last 30 s"),
        ("INFO", f"Kafka reachable again at {', '.join(SERVERS)} after 40 s unreachable (641 failed connection "
                 "attempts)"),
    ]


def test_a_worker_cut_off_from_kafka_is_not_ready_and_then_failing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger, watching = _watched(clock)

    async def probe() -> tuple[int, dict[str, Any], int, dict[str, Any]]:
        async with TestClient(TestServer(build_app("w-1", [], {}, watching, 30.0))) as client:
            health, ready = await client.get("/health"), await client.get("/ready")
            return health.status, await health.json(), ready.status, await ready.json()

    assert asyncio.run(probe())[0::2] == (200, 200)
    with caplog.at_level(logging.INFO):
        logger.error("Unable connect to node with id %s: %s", 1, REFUSED)
        clock.now += 5
        logger.error("Unable connect to node with id %s: %s", 1, REFUSED)
        status, health, ready_status, ready = asyncio.run(probe())
        assert (status, health["status"], health["kafka"]) == (200, "ok", None)
        assert ready_status == 503 and ready["ready"] is False
        assert ready["kafka"] == f"Kafka unreachable at {', '.join(SERVERS)} for 5 s (2 failed connection attempts)"
        for _ in range(26):
            clock.now += 1
            logger.error("Unable connect to node with id %s: %s", 1, REFUSED)
        status, health, ready_status, _ = asyncio.run(probe())
        assert status == 503 and health["status"] == "failing" and ready_status == 503
        assert health["kafka"] == f"Kafka unreachable at {', '.join(SERVERS)} for 31 s (28 failed connection attempts)"
        clock.now += 10
        assert asyncio.run(probe())[0::2] == (200, 200)


def test_the_watch_sees_aiokafkas_own_failed_connections(caplog: pytest.LogCaptureFixture) -> None:
    """aiokafka's real client, bootstrapping against a port where nothing listens: its ``Unable connect to ...`` is
    logged on the logger aiokafka itself uses, which is the one the watch is installed on. It was installed on
    ``aiokafka.client`` while aiokafka 0.14 logs on ``aiokafka``, so the watch never saw a failure."""
    import socket

    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaConnectionError

    clock = Clock()
    _, watching = _watched(clock)
    with socket.socket() as probe:  # a free port: bound, then closed, so the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def bootstrap() -> None:
        client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=1000)
        try:
            with pytest.raises(KafkaConnectionError):
                await client.bootstrap()
        finally:
            await client.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(bootstrap())
    assert watching.unreachable_s() == 0.0 and watching.attempts >= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("aiokafka")]
    said = [r.getMessage() for r in caplog.records if r.name == "isthmus.kafka"]
    assert said and said[0].startswith(f"Kafka unreachable: cannot connect to {', '.join(SERVERS)} (Unable connect "
                                       f'to "127.0.0.1:{port}"')


def test_the_consumers_failed_requests_are_quiet_only_while_kafka_is_unreachable(
        caplog: pytest.LogCaptureFixture) -> None:
    """With its broker down a trial's worker still logged 6,157 ERRORs of aiokafka's consumers, one per fetch and
    coordinator look-up (``Failed fetch messages from 1: NodeNotReadyError ...``), beside the unreachable WARNING.
    They are DEBUG while the watch says Kafka is unreachable, and ERROR as before at any other time."""
    from aiokafka.consumer import fetcher, group_coordinator
    from aiokafka.errors import NodeNotReadyError

    clock = Clock()
    client_log, watching = _watched(clock)
    not_ready = NodeNotReadyError("Attempt to send a request to node which is not ready (node id 1).")

    def consumers_say() -> None:
        fetcher.log.error("Failed fetch messages from %s: %s", 1, not_ready)
        group_coordinator.log.error("Group Coordinator Request failed: %s", not_ready)
        fetcher.log.error("Failed fetch messages from %s: %s", 1, "a broker's refusal")

    def errors() -> list[str]:
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("aiokafka")]
        caplog.clear()
        return said

    with caplog.at_level(logging.INFO):
        consumers_say()  # Kafka reachable: every one is said
        assert len(errors()) == 3
        client_log.error("Unable connect to node with id %s: %s", 1, REFUSED)
        consumers_say()
        assert errors() == ["Failed fetch messages from 1: a broker's refusal"]
        clock.now += 11
        assert watching.unreachable_s() is None  # reachable again
        consumers_say()
        assert len(errors()) == 3


AUTH_FAILED = ('Unable connect to "127.0.0.1:9093": [Error 58] SaslAuthenticationFailed: Authentication failed during '
               "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")


def test_a_refused_login_is_named_in_every_summary_in_health_and_in_the_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """A trial rotated the worker's SCRAM password and restarted the broker: the worker, holding the old password,
    logged "Kafka still unreachable ... failed connection attempts" every 30 s for minutes, and its /health and its
    exit said "cannot be reached", never that the brokers refused its login."""
    from streams.config.kafka import kafka_settings
    from streams.kafka.topics import unreachable

    clock = Clock()
    logger, watching = _watched(clock)
    with caplog.at_level(logging.INFO):
        logger.error("Unable connect to node with id %s: %s", 1, REFUSED)  # the broker restarting
        for _ in range(40):
            clock.now += 1
            logger.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9093, AUTH_FAILED.split(": ", 1)[1])
    said = [r.getMessage() for r in caplog.records if r.name == "isthmus.kafka"]
    assert "Kafka still unreachable" in said[-1] and "SaslAuthenticationFailed" in said[-1]
    assert "ISTHMUS_KAFKA_SASL_PASSWORD" in said[-1] and "restart it after a rotation" in said[-1]
    reason = watching.reason()
    assert reason is not None and "refuse the SASL login" in reason
    error = str(unreachable(kafka_settings(["127.0.0.1:9093"]), OSError("Unable to bootstrap")))
    assert "refuses this client" in error and "SaslAuthenticationFailed" in error and "cannot be reached" not in error
    clock.now += 11  # connections succeed again: the error is a plain one once more
    watching.check()
    assert watching.refused() is None


def test_an_untrusted_certificate_names_the_ca_setting(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger, watching = _watched(clock)
    with caplog.at_level(logging.INFO):
        logger.error('Unable connect to "%s:%s": %s', "127.0.0.1", 9093, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                     "verify failed: self-signed certificate in certificate chain (_ssl.c:1006)")
    [first] = [r.getMessage() for r in caplog.records if r.name == "isthmus.kafka"]
    assert "CERTIFICATE_VERIFY_FAILED" in first and "ISTHMUS_KAFKA_SSL_CAFILE" in first
    assert "ISTHMUS_KAFKA_SSL_CAFILE" in (watching.reason() or "")
