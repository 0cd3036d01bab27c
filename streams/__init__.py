"""Isthmus: a change-data-capture bridge between a CRM and an ERP.

Debezium captures row changes into Kafka, flows on Isthmus' own exactly-once engine
(``streams.flows.engine``) map and reconcile them, and sink workers write the result back through each
system's API. This package has no import-time side effects.
"""

__version__ = "0.1.0"
