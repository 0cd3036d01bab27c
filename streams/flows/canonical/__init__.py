"""Canonical documents: the table sources mapping files publish (``publish:``), as canonical records with their
lineage (:mod:`~streams.flows.canonical.flow`), and the lineage headers every canonical record carries
(:mod:`~streams.flows.canonical.lineage`)."""

from __future__ import annotations

from streams.flows.canonical.flow import NAME, CanonicalFlow, Document, documents, published_topics
from streams.flows.canonical.lineage import Lineage, LineageError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile, Section


def build(context: FlowContext, flow: FlowFile) -> FlowSpec:
    """The ``publish`` block's builder (:data:`streams.flows.files.BLOCKS`): what to publish comes from the
    mapping files' ``publish:``, so the flow file's section is empty."""
    section = Section(flow)
    section.only(())
    section.done()
    return CanonicalFlow(schemas=context.schemas, mappings=context.mappings, systems=context.systems,
                         name=flow.name).spec()


__all__ = ["NAME", "CanonicalFlow", "Document", "Lineage", "LineageError", "build", "documents", "published_topics"]
