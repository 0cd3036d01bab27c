from pathlib import Path

import pytest

from streams.worker.settings import WorkerConfigError, WorkerSettings


def test_state_is_in_memory_unless_rocksdb_is_chosen() -> None:
    default = WorkerSettings.from_env({})
    assert (default.store, default.state_dir, default.state_cache_mb) == ("memory", None, 64)
    chosen = WorkerSettings.from_env({"ISTHMUS_STORE": "RocksDB", "ISTHMUS_STATE_DIR": "/var/isthmus/state",
                                      "ISTHMUS_STATE_CACHE_MB": "128"})
    assert (chosen.store, chosen.state_dir, chosen.state_cache_mb) == ("rocksdb", Path("/var/isthmus/state"), 128)


def test_an_unknown_store_names_the_choices() -> None:
    with pytest.raises(WorkerConfigError) as error:
        WorkerSettings.from_env({"ISTHMUS_STORE": "redis", "ISTHMUS_STATE_CACHE_MB": "1"})
    message = str(error.value)
    assert "ISTHMUS_STORE: 'redis' is not one of memory, rocksdb" in message
    assert "ISTHMUS_STATE_CACHE_MB: '1' is not a whole number in 8..65536" in message
