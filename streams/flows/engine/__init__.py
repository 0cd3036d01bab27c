"""The exactly-once engine the flows run on.

A flow is declared (``FlowSpec``: its input topics, its state stores, its handler) and knows nothing of
Kafka clients or transactions. The engine consumes the inputs with ``read_committed``, calls the handler
for each record with a ``Context`` (stores to read and write, ``emit`` to produce; a handler raises
``Rejected`` for input it cannot use, and the engine undoes what it did and dead-letters it), and commits
everything the handler did for a batch (emitted records, store changelog writes, dead letters and the input
offsets) in one Kafka transaction. A worker killed at any moment therefore re-processes from the last commit
with the state of the last commit: nothing is lost and nothing is applied twice.
"""

from streams.flows.engine.api import Context, FlowSpec, Handler, Incoming, OutputTooLarge, Rejected, Store

__all__ = ["Context", "FlowSpec", "Handler", "Incoming", "OutputTooLarge", "Rejected", "Store"]
