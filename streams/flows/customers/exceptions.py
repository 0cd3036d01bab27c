"""Failures of the customer flow that are not the mapping's or the codecs' own."""

from __future__ import annotations

from streams.errors import IsthmusError
from streams.flows.exceptions import FlowUnavailable


class CustomerFlowError(IsthmusError):
    """The customer flow cannot use a record or its own state."""


class MissingMapping(CustomerFlowError, FlowUnavailable):
    """A mapping file the customer flow needs is not loaded (the worker leaves the flow out)."""


class MergedRows(CustomerFlowError):
    """Two live rows of one source map to the same record key: they would be written as one record."""


class CorruptState(CustomerFlowError):
    """A stored value does not have the shape the customer flow writes."""


class WithheldValue(CustomerFlowError):
    """A child change left out a value (Debezium's placeholder) its list item never had: it is refused, not made
    an item with that field null (:func:`~streams.flows.customers.withheld.whole_item`)."""
