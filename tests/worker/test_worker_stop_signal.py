"""A worker stopped by a signal says so: a new user's worker stopped mid-way through a 50,000-row transaction with
only `worker vm-3151 stopped` at INFO, and 22,000 entities waited unsent for 12 minutes with no cause in its log."""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest

from streams.worker.run import stopping

pytestmark = pytest.mark.unit


def test_a_stop_signal_is_said_at_warning_with_its_name_once(caplog: pytest.LogCaptureFixture) -> None:
    stop, stopped_by = asyncio.Event(), list[str]()
    with caplog.at_level(logging.WARNING, logger="streams.worker.run"):
        stopping("w1", signal.SIGTERM, stop, stopped_by)
        stopping("w1", signal.SIGINT, stop, stopped_by)
    assert stop.is_set()
    assert stopped_by == ["on SIGTERM"]
    (said,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert said.getMessage().startswith("worker w1: SIGTERM received: stopping; what it has not committed is done "
                                        "again, from its last commit")
