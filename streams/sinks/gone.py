"""Deleting what is not there: a ``deactivate`` or ``cancel`` whose record is already gone in the target (a person
deleted it there, or an earlier attempt did and the sink restarted before its commit) finds the state it asks for,
so it is applied, not dead-lettered, and never creates the record. Its route's ``gone`` rule
(:class:`~streams.sinks.config.model.GoneRule`) says which answers mean "not there"; an adapter that knows it (an
exact search found none, a SQL key no row) says so in its failure (``Failed.not_found``). Pure functions over any
adapter's outcome; ``delivery`` applies them to every attempt, before the route's ``answers`` rules.

The command's result says so: ``Applied.gone`` (the worker counts it, the deliverer logs it once per route) and, in
the ``CommandResult``, the status of the answer that said so (404 where none had one) and the target's answer with
``$gone`` added, which :func:`~streams.sinks.records.result_gone` reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from streams.sinks.answers import any_holds
from streams.sinks.config.model import GoneRule
from streams.sinks.outcomes import Applied, Attempt, Failed, answer_text, classify_status
from streams.sinks.records import GONE_KEY

#: The status of a gone result when no answer had one (a search that found none, a SQL key with no row).
NOT_THERE = 404


def gone_text(rule: GoneRule | None, outcome: Attempt, *, system: str, call: str) -> str | None:
    """What says the record is not there, in words, when ``outcome`` means that under ``rule``; else None.
    ``call`` names the route's call for an answer that does not say which call it was."""
    if rule is None:
        return None
    if isinstance(outcome, Failed):
        if outcome.not_found:
            return outcome.not_found
        status, answer, made = outcome.status, outcome.answer, outcome.call
    else:
        if outcome.refused or outcome.gone:
            return outcome.gone or None
        status, answer, made = outcome.status, outcome.body, outcome.call
    if status is None or not _status_fits(rule, status) or (rule.when and not any_holds(rule.when, answer)):
        return None
    if isinstance(outcome, Failed) and (outcome.protocol_error or not made):
        return outcome.reason  # the adapter's own words (a JSON-RPC error's message)
    return f"{system} answered {status} to {made or call}: {answer_text(answer, 300)}"


def _status_fits(rule: GoneRule, status: int) -> bool:
    if rule.statuses:
        return status in rule.statuses
    return classify_status(status) != "transient"  # a rule of conditions only: any answer but a busy target's


def as_gone(outcome: Attempt, text: str) -> Applied:
    """``outcome`` as the applied command it is: its status (404 when it has none), its answer with ``$gone``."""
    answer = outcome.body if isinstance(outcome, Applied) else outcome.answer
    body = dict(answer) if isinstance(answer, Mapping) else {} if answer is None else {"answer": answer}
    body[GONE_KEY] = text
    return Applied(status=outcome.status or NOT_THERE, body=body, gone=text, call=outcome.call)


def unmet(rule: GoneRule | None, failed: Failed, *, where: str, system: str) -> Failed:
    """A deactivate or cancel dead-lettered with an answer that may mean "not there", its reason saying why it was
    not taken for gone and how to declare it (unchanged for any other failure, or under ``gone: false``)."""
    if rule is None or failed.status is None:
        return failed
    if failed.status in rule.statuses and rule.when:
        expected = " or ".join(c.shown() for c in rule.when)
        note = (f"not taken for gone: the route's gone ({where}) takes {failed.status} only where {expected}, which "
                "this answer does not hold (a wrong path in the target file, or another record missing?)")
    elif failed.status == NOT_THERE and failed.status not in rule.statuses:
        note = (f"if {system} answers {NOT_THERE} when the record is already gone (the state this command asks for), "
                f"say so on the route ({where}): gone: [{NOT_THERE}, 410], best with when: a condition only that "
                "answer holds (it tells a missing record from a wrong path), then replay the dead letter; see "
                "targets/README.md, \"Gone\"")
    else:
        return failed
    return replace(failed, reason=f"{failed.reason}; {note}")
