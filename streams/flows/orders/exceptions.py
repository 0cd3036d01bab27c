"""Failures of the order-to-cash flow."""

from streams.errors import IsthmusError


class OrderFlowError(IsthmusError):
    """A change the order-to-cash flow cannot use."""


class UnexpectedRecord(OrderFlowError):
    """A record of a kind the flow does not read on that topic (e.g. a transaction event on a table topic)."""


class IncompleteTransaction(OrderFlowError):
    """A source transaction whose other changes were never received, so its order would be half-written."""


class KeyOnlyDelete(OrderFlowError):
    """An origin header's delete that carries only the row's key, which does not say which document it was."""
