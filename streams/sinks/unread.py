"""A refusal no flow would read: dead-lettered, with its reason and fix.

A refusal (a route's ``refusals`` answer, or a document over the target's ``limits.lines_per_call`` whose route
declares no ``parts``) ends its command as a CommandResult with the status, for the flow that reads the results
topic and holds the document there: only a document flow does, for its document's create and update. Every other
command says so (the Command's ``reads_refusals`` false): its refusal would be read by no one, and a write-only
target shows no echo either, so the flow would take the write as made, for ever, without a word. Such a refusal
is dead-lettered instead, like any write the target refuses for good: ``isthmus topics dlq list`` and
``isthmus status`` show it, and the entity flow, which reads ``isthmus.dlq``, forgets a refused create, end or
update (:mod:`streams.flows.customers.refused`).
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.sinks.adapters.parts import TOO_BIG_STATUS
from streams.sinks.outcomes import Applied, Failed, answer_text
from streams.sinks.records import SinkCommand

#: The error types of such dead letters: the sink's own too-big refusal, and the target's business refusal.
TOO_BIG, REFUSED = "TooBig", "Refused"


def unread_refusal(command: SinkCommand, applied: Applied, *, system: str, target_file: str) -> Failed | None:
    """The dead letter of ``applied`` when it is a refusal of ``command`` that its flow does not read from the
    results topic; else None (an applied command, or a refusal its flow holds)."""
    if not applied.refused or command.reads_refusals:
        return None
    answer = applied.body if isinstance(applied.body, Mapping) else {}
    what = f"{command.payload_type.rpartition('.')[2]} {command.operation} of {command.entity_key}"
    said = next((answer[k] for k in ("error", "message", "detail") if isinstance(answer.get(k), str)), None)
    said = said or answer_text(applied.body, 300)
    fix = answer.get("fix") if isinstance(answer.get("fix"), str) else None
    if applied.status == TOO_BIG_STATUS:
        error_type, why = TOO_BIG, f"was not sent, too big for {system.upper()}: {said}"
    else:
        field = answer.get("field")
        error_type = REFUSED
        why = (f"was refused by {system.upper()} with {applied.status} ({said}), a business refusal {target_file} "
               f"declares (refusals: {field})")
    fix = fix or f"clear the cause in {system.upper()} or correct the source record"
    return Failed(kind="permanent", error_type=error_type, status=applied.status, answer=applied.body,
                  call=applied.call,
                  reason=f"the {what} {why}; its flow reads no refusals from the results topic, so it is "
                         f"dead-lettered rather than taken as made. Fix: {fix}; then replay it: "
                         "isthmus topics dlq replay")
