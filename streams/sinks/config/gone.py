"""The ``gone:`` of a deactivate or cancel route, checked through the loader's :class:`TargetReader` like the rest
of the file (every problem with its line, key and fix). What it means: :class:`~streams.sinks.config.model.GoneRule`
and ``streams.sinks.gone``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.sinks.config.model import DEFAULT_GONE_STATUSES, GONE_OPERATIONS, GoneRule

if TYPE_CHECKING:
    from streams.sinks.config.loader import Key, TargetReader

GONE_KEYS = ("status", "when")
EXAMPLE = "gone: {status: [404, 410], when: {path: field, one_of: [account_id]}}"


def _never_gone() -> tuple[int, ...]:
    """Statuses that say something of the target or of Isthmus's credentials, never of one record: retried."""
    from streams.sinks.outcomes import CREDENTIAL_STATUSES, TRANSIENT_STATUSES  # outcomes imports this package

    return tuple(sorted(TRANSIENT_STATUSES | CREDENTIAL_STATUSES))


def gone_rule(reader: TargetReader, raw: Any, key: Key, operation: str | None) -> GoneRule | None:
    """A route's ``gone`` (at ``key``): a status or a list of them, ``{status, when}``, or ``false`` (None: the
    route reads no answer as gone, and an exact search that finds none is dead-lettered)."""
    if operation is not None and operation not in GONE_OPERATIONS:
        article = "an" if operation[0] in "aeiou" else "a"
        reader.problem(key, f"gone is for {' and '.join(GONE_OPERATIONS)} routes: {article} {operation} whose record "
                       "is not there did not do what it was sent for, and must fail visibly (dead-lettered with the "
                       "target's answer)",
                       f"remove gone from this route; declare it on the route's {' or '.join(GONE_OPERATIONS)}")
        return None
    if raw is False:
        return None
    line = reader.line(key)
    if raw is True or raw is None:
        reader.problem(key, f"gone: {str(raw).lower()} says nothing the default does not",
                       f"leave gone out for the default ({' or '.join(map(str, DEFAULT_GONE_STATUSES))}, and an "
                       f"exact search that finds none), write gone: false to dead-letter those, or say what means "
                       f"gone, e.g. {EXAMPLE}")
        return None
    if not isinstance(raw, dict):
        statuses = _statuses(reader, raw, key)
        if statuses is None:
            return None
        return _checked(reader, key, GoneRule(statuses=statuses, declared=True, line=line))
    spec = reader.mapping(raw, key, GONE_KEYS, "gone")
    if spec is None:
        return None
    statuses = _statuses(reader, spec["status"], (*key, "status")) if "status" in spec else ()
    when = reader.conditions(spec.get("when"), (*key, "when"), required=False)
    if statuses is None:
        return None
    if not statuses and not when:
        reader.problem(key, "gone has no rule", f"give the statuses and/or the condition on the answer that mean "
                       f"the record is not there: {EXAMPLE}")
        return None
    return _checked(reader, key, GoneRule(statuses=statuses, when=when, declared=True, line=line))


def _statuses(reader: TargetReader, raw: Any, key: Key) -> tuple[int, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) and 200 <= s <= 499 for s in items):
        reader.problem(key, f"{raw!r} is not a status or list of statuses from 200 to 499",
                       f"write e.g. gone: [404, 410], or {EXAMPLE}")
        return None
    never = [s for s in items if s in _never_gone()]
    if never:
        reader.problem(key, f"{', '.join(map(str, never))} never means a record is not there: "
                       f"{', '.join(map(str, _never_gone()))} say the target is busy or refuses Isthmus's credentials, "
                       "and are retried", f"remove {', '.join(map(str, never))} from gone")
        return None
    return tuple(items)


def _checked(reader: TargetReader, key: Key, rule: GoneRule) -> GoneRule | None:
    """A rule that would take a success for gone (a 2xx status without a condition) is refused."""
    successes = [s for s in rule.statuses if s < 300]
    if successes and not rule.when:
        reader.problem(key, f"gone takes every answer {', '.join(map(str, successes))} for gone, successes "
                       "included, so no deactivation would ever be told from a missing record",
                       "add when: the condition only the target's answer for a missing record holds, e.g. "
                       "gone: {status: 200, when: {path: error, matches: not found}}")
        return None
    return rule
