"""The customer flow's tests' transaction metadata: :mod:`support.tx_events`, shared with the other flows' tests."""

from support.tx_events import Rec, end_of, one_transaction, with_ends

__all__ = ["Rec", "end_of", "one_transaction", "with_ends"]
