"""Canonical documents: order-to-cash rows of both systems published as canonical records with their lineage
(:mod:`~streams.flows.canonical.flow`), the lineage headers every canonical record carries
(:mod:`~streams.flows.canonical.lineage`), and which table becomes which document
(:mod:`~streams.flows.canonical.documents`)."""

from __future__ import annotations

from streams.flows.canonical.documents import DOCUMENTS, Document
from streams.flows.canonical.flow import NAME, CanonicalFlow
from streams.flows.canonical.lineage import Lineage, LineageError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec


def build(context: FlowContext) -> FlowSpec:
    """The ``isthmus-canonical`` flow (registered in :data:`streams.flows.registry.BUILTIN`)."""
    return CanonicalFlow(schemas=context.schemas, mappings=context.mappings,
                         systems=context.systems).spec()


__all__ = ["DOCUMENTS", "NAME", "CanonicalFlow", "Document", "Lineage", "LineageError", "build"]
