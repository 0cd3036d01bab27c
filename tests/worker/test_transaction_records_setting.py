"""``ISTHMUS_WORKER_TRANSACTION_RECORDS``: how many records a task's transaction gathers at most."""

import pytest

from streams.flows.engine.processor import DEFAULT_TRANSACTION_MAX_RECORDS, EngineSettings
from streams.worker.settings import WorkerConfigError, WorkerSettings

pytestmark = pytest.mark.unit


def test_it_defaults_to_the_engines_bound_and_is_read_from_its_variable() -> None:
    assert WorkerSettings.from_env({}).transaction_max_records == DEFAULT_TRANSACTION_MAX_RECORDS
    assert EngineSettings(bootstrap_servers="k:9092").transaction_max_records == DEFAULT_TRANSACTION_MAX_RECORDS
    assert WorkerSettings.from_env({"ISTHMUS_WORKER_TRANSACTION_RECORDS": "2000"}).transaction_max_records == 2000


def test_a_bound_below_one_record_is_named_with_its_fix() -> None:
    with pytest.raises(WorkerConfigError) as error:
        WorkerSettings.from_env({"ISTHMUS_WORKER_TRANSACTION_RECORDS": "0"})
    assert ("ISTHMUS_WORKER_TRANSACTION_RECORDS: '0' is not a whole number in 1..1000000; fix it or unset it to use "
            "10000") in str(error.value)
