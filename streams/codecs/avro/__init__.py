"""Canonical Avro: the schema loader, the compatibility check and single-object encoding."""
