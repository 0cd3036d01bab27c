"""Read an answer as the target means it: a route's ``answers`` rules turn a 2xx whose body carries an error
(``{"error": ["UserError", ...]}`` under HTTP 200) into a failure, permanent or transient as the rule says,
with the target's own message. Pure functions over any adapter's outcome; ``delivery`` applies them to every
attempt, so a plugin adapter gets them without doing anything."""

from __future__ import annotations

import re
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.config.model import AnswerRules, Condition
from streams.sinks.outcomes import Applied, Attempt, Failed, FailureKind, answer_text

#: The error_type of a dead letter whose answer's body said the call failed.
BODY_ERROR = "TargetError"


def holds(condition: Condition, body: Any) -> bool:
    value = get_path(body, condition.path)
    there = value is not MISSING and value is not None
    if condition.test == "present":
        return there
    if condition.test == "absent":
        return not there
    if not there:
        return False
    if condition.test == "equals":
        return bool(value == condition.value)
    if condition.test == "one_of":
        return value in condition.value
    return re.search(str(condition.value), _text(value)) is not None


def any_holds(conditions: tuple[Condition, ...], body: Any) -> bool:
    return any(holds(c, body) for c in conditions)


def error_message(rules: AnswerRules, body: Any) -> str:
    """The target's message at the error rule's ``message`` path, else the whole answer (cut)."""
    if rules.error is not None and rules.error.message is not None:
        value = get_path(body, rules.error.message)
        if value is not MISSING and value is not None:
            return _text(value)
    return answer_text(body, 500)


def judge(rules: AnswerRules | None, outcome: Attempt, *, system: str, call: str) -> Attempt:
    """``outcome`` as the rules read it; unchanged without rules, for a refusal, for a failure the adapter read
    from its protocol's error reply (``protocol_error``), or when no rule holds.

    An answer the error rule matches is a failure: transient when a ``transient`` condition holds too
    (retried), otherwise permanent (dead-lettered) for a 2xx, and as its status says for any other. A 2xx that
    no ``success`` condition matches is a permanent failure. ``call`` names the call for the reason.
    """
    if rules is None or (isinstance(outcome, Applied) and outcome.refused) or \
            (isinstance(outcome, Failed) and outcome.protocol_error):
        return outcome
    body = outcome.body if isinstance(outcome, Applied) else outcome.answer
    error = rules.error
    if error is not None and any_holds(error.when, body):
        transient = any_holds(error.transient, body)
        if isinstance(outcome, Failed):
            if not transient or outcome.kind == "transient":
                return outcome
            return Failed(kind="transient", reason=outcome.reason, status=outcome.status, answer=outcome.answer,
                          retry_after=outcome.retry_after, error_type=outcome.error_type)
        kind: FailureKind = "transient" if transient else "permanent"
        return Failed(kind=kind, status=outcome.status, answer=body, error_type=BODY_ERROR,
                      reason=f"{system} answered {outcome.status} to {call} with an error"
                             f"{' worth retrying' if transient else ''}: {error_message(rules, body)}")
    if isinstance(outcome, Applied) and rules.success and not any_holds(rules.success, body):
        expected = " or ".join(c.shown() for c in rules.success)
        return Failed(kind="permanent", status=outcome.status, answer=body, error_type=BODY_ERROR,
                      reason=f"{system} answered {outcome.status} to {call} without what its answers.success "
                             f"expects ({expected}): {answer_text(body, 500)}")
    return outcome


def _text(value: Any) -> str:
    return value if isinstance(value, str) else answer_text(value, 500)
