"""Canonical Avro: the schema loader, the compatibility check, single-object encoding and the Faust codec."""
