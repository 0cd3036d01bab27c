"""Failures of the stock availability flow."""

from streams.errors import IsthmusError


class StockFlowError(IsthmusError):
    """A change the stock availability flow cannot use."""


class UnexpectedRecord(StockFlowError):
    """A record of a kind the flow does not read on that topic."""
