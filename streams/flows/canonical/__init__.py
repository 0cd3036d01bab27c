"""Canonical documents: the table sources mapping files publish (``publish:``), as canonical records with their
lineage (:mod:`~streams.flows.canonical.flow`), and the lineage headers every canonical record carries
(:mod:`~streams.flows.canonical.lineage`)."""

from __future__ import annotations

from streams.flows.canonical.flow import NAME, CanonicalFlow, Document, documents, published_topics
from streams.flows.canonical.lineage import Lineage, LineageError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec


def build(context: FlowContext) -> FlowSpec:
    """The ``isthmus-canonical`` flow (registered in :data:`streams.flows.registry.BUILTIN`)."""
    return CanonicalFlow(schemas=context.schemas, mappings=context.mappings, systems=context.systems).spec()


__all__ = ["NAME", "CanonicalFlow", "Document", "Lineage", "LineageError", "build", "documents", "published_topics"]
