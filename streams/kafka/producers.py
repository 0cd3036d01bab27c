"""Dropping a transactional producer whose transaction failed: it is never used again (a flow restarts with new
producers, a sink makes a new one), and what it still queues must not go out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer


def abandon(producer: AIOKafkaProducer, sent: Sequence[asyncio.Future[Any]], exc: Exception) -> None:
    """The record batches ``producer`` still queues are failed with ``exc`` and dropped, not sent once its failed
    transaction has forgotten their partitions (outside any transaction; the next producer's start, with the same
    transactional id, fences this one and aborts what it began). The futures of those it sent (``sent``) are awaited
    by nobody now: their errors are retrieved, not logged as never retrieved. aiokafka has no public way to drop
    what a producer queues: its accumulator is reached into."""
    for future in sent:
        future.add_done_callback(_retrieved)
    queued = getattr(getattr(producer, "_message_accumulator", None), "_batches", {})
    for batches in queued.values():
        for batch in batches:
            if not batch.future.done():
                batch.future.set_exception(exc)
            batch.future.add_done_callback(_retrieved)
    queued.clear()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
