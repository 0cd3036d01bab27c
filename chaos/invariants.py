"""The invariants a chaos run must keep, as pure functions over what was read from Kafka and the databases.

Each check returns a :class:`Check`: whether it held, a count of violations and a few examples, so a failure
is reported precisely (what, how many, an example) rather than as a bare False.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

EXAMPLES = 5


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    checked: int
    violations: int
    examples: tuple[str, ...] = field(default_factory=tuple)

    @property
    def held(self) -> bool:
        return self.violations == 0

    def line(self) -> str:
        verdict = "ok" if self.held else "FAILED"
        text = f"{verdict:<6} {self.name}: {self.checked:,} checked, {self.violations:,} violating"
        if self.examples:
            text += "\n         e.g. " + "\n         e.g. ".join(self.examples)
        return text


def _check(name: str, checked: int, bad: Sequence[str]) -> Check:
    return Check(name=name, checked=checked, violations=len(bad), examples=tuple(bad[:EXAMPLES]))


@dataclass(frozen=True, kw_only=True)
class CommandSeen:
    """One committed command on a command topic: the parts the invariants need."""

    target: str
    idempotency_key: str
    entity_key: str
    payload_type: str
    operation: str
    position: str = ""


def applied_once(commands: Iterable[CommandSeen], applied: Mapping[str, Counter[str]],
                 dead_lettered: Iterable[str] = ()) -> tuple[Check, int, int]:
    """Every distinct command key has exactly one row in its target's idempotency table.

    ``applied``: per target, how many idempotency rows each key has (the primary key makes more than one
    impossible, but a count keeps the check honest). ``dead_lettered``: command positions
    (``topic[partition]@offset``) a sink dead-lettered. A key with no row is a violation either way; it counts
    as refused when a sink dead-lettered it (the target said no), as lost when nothing accounts for it.
    Returns the check, the number lost and the number refused."""
    refused_positions = set(dead_lettered)
    positions: dict[tuple[str, str], list[str]] = {}
    for c in commands:
        positions.setdefault((c.target, c.idempotency_key), []).append(c.position)
    lost, refused, twice = [], [], []
    for (target, key), where in sorted(positions.items()):
        rows = applied.get(target, Counter())[key]
        if rows == 0 and any(p in refused_positions for p in where):
            refused.append(f"{target}: command key {key} ({', '.join(where)}) was refused and dead-lettered, "
                           f"no row in the {target} idempotency_keys")
        elif rows == 0:
            lost.append(f"{target}: command key {key} ({', '.join(where)}) has no row in the {target} "
                        "idempotency_keys")
        elif rows > 1:
            twice.append(f"{target}: command key {key} has {rows} rows")
    check = _check("every command applied once (idempotency tables)", len(positions), lost + refused + twice)
    return check, len(lost), len(refused)


def one_per_source(name: str, counts: Mapping[str, int]) -> Check:
    """No business row written twice: ``counts`` maps a source key (a CRM customer, a CRM order) to how many
    target rows carry it."""
    bad = [f"{key}: {n} rows" for key, n in sorted(counts.items()) if n > 1]
    return _check(name, len(counts), bad)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) == bool(right)  # MariaDB answers a BOOLEAN as 0/1
    if isinstance(left, Decimal | int | float) or isinstance(right, Decimal | int | float):
        try:
            return Decimal(str(left or 0)) == Decimal(str(right or 0))
        except ArithmeticError:
            return False
    return (left or None) == (right or None)


def agree(name: str, pairs: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
          fields: Mapping[str, str]) -> Check:
    """Record by record: for each key, ``fields`` maps a left column to the right column that must equal it."""
    bad = []
    for key, (left, right) in sorted(pairs.items()):
        diffs = [f"{lf}={left.get(lf)!r} vs {rf}={right.get(rf)!r}" for lf, rf in fields.items()
                 if not _same(left.get(lf), right.get(rf))]
        if diffs:
            bad.append(f"{key}: " + "; ".join(diffs))
    return _check(name, len(pairs), bad)


def missing(name: str, expected: Iterable[str], present: Iterable[str]) -> Check:
    """Every expected key is present on the other side."""
    wanted = sorted(set(expected))
    have = set(present)
    return _check(name, len(wanted), [f"{key}: missing" for key in wanted if key not in have])


def quiet(commands_before: int, commands_after: int, seconds: float) -> Check:
    grew = commands_after - commands_before
    bad = [f"{grew} new commands within {seconds:.0f}s after quiescence"] if grew else []
    return Check(name=f"nothing written after quiescence ({seconds:.0f}s watched)", checked=1,
                 violations=grew, examples=tuple(bad))


def only_poison(dead_letters: Sequence[tuple[str, str]], poison_keys: Iterable[str]) -> Check:
    """The dead letters, as (key, stage), are exactly the poison injected: every poison dead-lettered, and once by
    each stage that did (a poison record on a topic two flows read is dead-lettered by both); nothing else."""
    injected = set(poison_keys)
    counts = Counter(dead_letters)
    bad = [f"dead letter keyed {key!r} [{stage}] was not injected ({n}x)" for (key, stage), n in sorted(counts.items())
           if key not in injected]
    bad += [f"poison {key!r} dead-lettered {n} times by {stage}" for (key, stage), n in sorted(counts.items())
            if key in injected and n != 1]
    seen = {key for key, _ in counts}
    bad += [f"poison {key!r} was never dead-lettered" for key in sorted(injected - seen)]
    return _check("dead letters hold only the injected poison", len(injected) + len(counts), bad)
