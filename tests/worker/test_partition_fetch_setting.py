"""``ISTHMUS_WORKER_PARTITION_FETCH_BYTES``: how many bytes one fetch brings of a partition at most."""

import pytest

from streams.flows.engine.processor import DEFAULT_MAX_PARTITION_FETCH_BYTES, EngineSettings
from streams.worker.settings import WorkerConfigError, WorkerSettings

pytestmark = pytest.mark.unit


def test_it_defaults_to_the_engines_bound_and_is_read_from_its_variable() -> None:
    assert WorkerSettings.from_env({}).partition_fetch_bytes == DEFAULT_MAX_PARTITION_FETCH_BYTES
    assert EngineSettings(bootstrap_servers="k:9092").max_partition_fetch_bytes == DEFAULT_MAX_PARTITION_FETCH_BYTES
    env = {"ISTHMUS_WORKER_PARTITION_FETCH_BYTES": str(16 << 20)}
    assert WorkerSettings.from_env(env).partition_fetch_bytes == 16 << 20


def test_a_fetch_too_small_for_a_record_is_named_with_its_fix() -> None:
    with pytest.raises(WorkerConfigError) as error:
        WorkerSettings.from_env({"ISTHMUS_WORKER_PARTITION_FETCH_BYTES": "1000"})
    assert "ISTHMUS_WORKER_PARTITION_FETCH_BYTES: '1000'" in str(error.value)
    assert f"unset it to use {DEFAULT_MAX_PARTITION_FETCH_BYTES}" in str(error.value)
