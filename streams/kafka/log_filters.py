"""Installing a filter of Isthmus's own on a Kafka client library's logger, once however often it is asked."""

from __future__ import annotations

import logging
from typing import TypeVar

F = TypeVar("F", bound=logging.Filter)


def install_once(logger: logging.Logger, kind: type[F]) -> F:
    """The ``kind`` filter on ``logger``: the one installed before, else a new one, installed."""
    for installed in logger.filters:
        if isinstance(installed, kind):
            return installed
    made = kind()
    logger.addFilter(made)
    return made


__all__ = ["install_once"]
