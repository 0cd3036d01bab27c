"""Fixtures of the sink tests: a run id for unique keys, and database connections for checking outcomes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _delete_test_topics(request: pytest.FixtureRequest) -> Iterator[None]:
    """Topics a test made for itself (sink_support.fresh_topics) are deleted after it."""
    yield
    from sink_support import CREATED_TOPICS, delete_topics

    if CREATED_TOPICS and "stack" in request.fixturenames:
        names = list(CREATED_TOPICS)
        CREATED_TOPICS.clear()
        delete_topics(request.getfixturevalue("stack"), names)


@pytest.fixture
def run() -> int:
    from sink_support import run_id

    return run_id()
