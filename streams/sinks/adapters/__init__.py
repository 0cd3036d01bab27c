"""How a sink applies one command to its target: over HTTP (declared routes) or as a SQL upsert."""

from streams.sinks.adapters.base import Adapter

__all__ = ["Adapter"]
