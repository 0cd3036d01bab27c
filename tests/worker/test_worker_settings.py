import datetime as dt

import pytest

from streams.worker.resync import seconds_until
from streams.worker.settings import WorkerConfigError, WorkerSettings


def test_defaults() -> None:
    settings = WorkerSettings.from_env({})
    assert settings.port == 18090
    assert settings.flows is None
    assert settings.resync_at == (2, 0)
    assert settings.session_timeout_ms == 10000
    assert settings.flow_partitions == 1
    assert settings.worker_id


def test_values_and_off() -> None:
    settings = WorkerSettings.from_env({"ISTHMUS_WORKER_FLOWS": "a, b", "ISTHMUS_RESYNC_AT": "off",
                                        "ISTHMUS_WORKER_PORT": "0", "ISTHMUS_WORKER_ID": "w1"})
    assert settings.flows == frozenset({"a", "b"})
    assert settings.resync_at is None
    assert settings.port == 0
    assert settings.worker_id == "w1"


def test_every_problem_is_named() -> None:
    with pytest.raises(WorkerConfigError) as error:
        WorkerSettings.from_env({"ISTHMUS_WORKER_PORT": "http", "ISTHMUS_RESYNC_AT": "25:00",
                                 "ISTHMUS_WORKER_BATCH": "0"})
    message = str(error.value)
    assert "ISTHMUS_WORKER_PORT: 'http' is not a port (0-65535" in message
    assert "ISTHMUS_RESYNC_AT: '25:00' is not HH:MM" in message
    assert "ISTHMUS_WORKER_BATCH: '0' is not a whole number in 1..100000; fix it or unset it to use 2000" in message


def test_flow_partitions_for_a_fleet() -> None:
    assert WorkerSettings.from_env({"ISTHMUS_FLOW_PARTITIONS": "3"}).flow_partitions == 3
    with pytest.raises(WorkerConfigError, match=r"ISTHMUS_FLOW_PARTITIONS: '0' is not a whole number in 1\.\.64"):
        WorkerSettings.from_env({"ISTHMUS_FLOW_PARTITIONS": "0"})


def test_the_next_resync_is_today_or_tomorrow() -> None:
    now = dt.datetime(2026, 3, 8, 1, 30, tzinfo=dt.UTC)
    assert seconds_until((2, 0), now) == 30 * 60
    assert seconds_until((1, 0), now) == 23.5 * 3600
