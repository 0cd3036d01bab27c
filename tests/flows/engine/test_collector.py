"""The worker's collector tuning (streams/flows/engine/collector.py): what exists at the call is frozen, and the
young generation is collected less often; the older generations' thresholds are kept."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.flows.engine.collector import GEN0_THRESHOLD, tune_for_batches

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_what_exists_and_raises_the_young_threshold(restored_collector: None) -> None:
    gc.unfreeze()
    _, gen1, gen2 = gc.get_threshold()
    kept = [object() for _ in range(10)]
    tune_for_batches()
    assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold() == (GEN0_THRESHOLD, gen1, gen2)
