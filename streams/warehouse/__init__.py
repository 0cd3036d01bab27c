"""The warehouse: CDC records cleaned into a PostgreSQL star schema with lineage, exactly once.

``cleaning`` (pure rules), ``tables`` (what a table spec does with a canonical record), ``tables_file``
(reading and checking ``warehouse/tables.yaml``, the specs as data), ``rows`` (one change event to one
warehouse row or a rejection), ``ddl`` (the SQL in ``warehouse/``), ``writer`` (upserts and offsets in one
transaction), ``loader`` (the Kafka loop), ``settings``.
"""
