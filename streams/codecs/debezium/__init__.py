"""Debezium change events as Kafka Connect's JsonConverter writes them, with schemas enabled.

``envelope``: the records (:func:`~.envelope.decode`); ``values``: field values read by their Connect schema,
the reference; ``compiled`` and ``schema_cache``: each distinct schema compiled once, so that per record only
the payload is parsed and converted.
"""
