"""Replays addressed to a stage: the replay of a dead letter is used by the stage that dead-lettered it alone.

``isthmus topics dlq replay`` writes a dead-lettered record back to its topic with the ``isthmus.replay`` header
naming the dead letter's stage (:func:`~streams.kafka.deadletters.replayed_headers`). Every flow that reads the
topic reads the copy, but only the flow of that stage has not used the record yet: for the others it is an old
change arriving again (they used it, or dead-lettered it with a letter of their own, long ago) that would set their
state back. So the engine skips a replay addressed to a stage that is not the flow's (counted as
:data:`SKIPPED`, logged at debug) before its handler sees it. A replay whose header names no stage (written before
replays were addressed) is every reader's, as it always was.

The stages a flow answers for (:func:`stages_of`) are those its dead letters record: its own ``flow.<name>``, its
feeders' (a relay that re-keys a topic for it: the flow never saw what a feeder dead-lettered), and, for a flow that
declares its key, its keying stage's. Laid out in N partitions (:mod:`~streams.flows.engine.repartition`), a flow's
dead letters record ``flow.<name>`` (its handler's rejections), ``flow.<name>-p<N>`` (any other failure of the keyed
flow) or ``flow.<name>-p<N>-keying`` (its keying stage); stages are compared without the partition count
(:func:`family`), so a dead letter of one layout is replayed to the flow of another (N changed, to 1 included). The
keying stage answers for the flow's stages too, so it passes a replay addressed to the flow on, headers kept, to the
keyed topic.
"""

from __future__ import annotations

import re

from streams.flows.engine.api import FlowSpec
from streams.kafka.deadletters import Headers, replay_stage

#: What a flow counts (``isthmus_flow_events_total``) for each replay it skips: addressed to another stage.
SKIPPED = "replay_skipped"

_LAID_OUT = re.compile(r"(?P<flow>flow\..+)-p\d+(?P<keying>-keying)?")


def family(stage: str) -> str:
    """``stage`` without the partition count of a partitioned layout: ``flow.customers-p3-keying`` ->
    ``flow.customers-keying``, ``flow.customers-p3`` -> ``flow.customers``; any other stage as it is."""
    laid = _LAID_OUT.fullmatch(stage)
    return stage if laid is None else f"{laid['flow']}{laid['keying'] or ''}"


def stages_of(spec: FlowSpec) -> frozenset[str]:
    """The dead-letter stages (each its :func:`family`) whose replays ``spec`` uses."""
    stages = {f"flow.{spec.name}", *spec.answers_for}
    if spec.key_by is not None:
        stages.add(f"flow.{spec.name}-keying")
    for feeder in spec.feeders:
        stages |= stages_of(feeder)
    return frozenset(family(stage) for stage in stages)


def addressed_elsewhere(headers: Headers, stages: frozenset[str]) -> str | None:
    """The stage a replayed record (its ``headers``) is addressed to when it is none of ``stages``; None when the
    record is the flow's: no replay, a replay addressed to one of ``stages``, or to no stage."""
    stage = replay_stage(headers)
    if stage is None or family(stage) in stages:
        return None
    return stage
