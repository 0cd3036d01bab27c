"""The invariants a chaos run must keep, as pure functions over what was read from Kafka and the databases.

Each check returns a :class:`Check`: whether it held, a count of violations and a few examples, so a failure
is reported precisely (what, how many, an example) rather than as a bare False.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
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


@dataclass(frozen=True, kw_only=True)
class AppliedOnce:
    """The applied-once check and how its keys without exactly one row split up."""

    check: Check
    lost: int
    refused: int
    held: int
    unreleased: int
    twice: int


def applied_once(commands: Iterable[CommandSeen], applied: Mapping[str, Counter[str]],
                 dead_lettered: Iterable[str] = (), *, refused_by_target: Collection[str] = (),
                 held: Collection[str] = ()) -> AppliedOnce:
    """Every distinct command key has exactly one row in its target's idempotency table.

    ``applied``: per target, how many idempotency rows each key has (the primary key makes more than one
    impossible, but a count keeps the check honest). ``dead_lettered``: command positions
    (``topic[partition]@offset``) a sink dead-lettered. ``refused_by_target``: keys a sink recorded as the
    target's business refusal (a CommandResult with a 409, e.g. "account N is blocked"). ``held``: the
    entities (order numbers) the flows hold at the end because the ERP would still refuse them.

    A key with no row is a violation, except one the target refused as a business state whose entity is held
    at the end (it is sent again, with the same key, when the state changes). It counts as refused when a sink
    dead-lettered it, as lost when nothing accounts for it."""
    refused_positions = set(dead_lettered)
    business = set(refused_by_target)
    holding = set(held)
    positions: dict[tuple[str, str], list[str]] = {}
    entities: dict[tuple[str, str], str] = {}
    for c in commands:
        positions.setdefault((c.target, c.idempotency_key), []).append(c.position)
        entities[(c.target, c.idempotency_key)] = c.entity_key
    lost, refused, twice, unreleased = [], [], [], []
    kept = 0
    for (target, key), where in sorted(positions.items()):
        rows = applied.get(target, Counter())[key]
        entity = entities[(target, key)]
        if rows == 0 and any(p in refused_positions for p in where):
            refused.append(f"{target}: command key {key} ({', '.join(where)}) was refused and dead-lettered, "
                           f"no row in the {target} idempotency_keys")
        elif rows == 0 and key in business and entity in holding:
            kept += 1
        elif rows == 0 and key in business:
            unreleased.append(f"{target}: command key {key} ({', '.join(where)}) was refused by the {target} as a "
                              f"business state, but {entity} is not held at the end and it was never applied")
        elif rows == 0:
            lost.append(f"{target}: command key {key} ({', '.join(where)}) has no row in the {target} "
                        "idempotency_keys")
        elif rows > 1:
            twice.append(f"{target}: command key {key} has {rows} rows")
    check = _check("every command applied once (idempotency tables; refused ones held at the end excepted)",
                   len(positions), lost + refused + unreleased + twice)
    return AppliedOnce(check=check, lost=len(lost), refused=len(refused), held=kept, unreleased=len(unreleased),
                       twice=len(twice))


#: The CRM status of an order the orders flow holds because its customer's ERP account is blocked.
ON_HOLD = "on_hold"


def held_orders(crm_orders: Mapping[str, Mapping[str, Any]], erp_orders: Collection[str],
                erp_accounts: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The CRM orders rightly on hold at the end: CRM status ``on_hold``, no ERP order, and the ERP account of
    their customer (``customer_number``) blocked."""
    return {number for number, order in crm_orders.items()
            if order.get("status") == ON_HOLD and number not in erp_orders
            and bool((erp_accounts.get(str(order.get("customer_number"))) or {}).get("blocked"))}


def holds_are_right(crm_orders: Mapping[str, Mapping[str, Any]], held: Collection[str]) -> Check:
    """Every CRM order showing ``on_hold`` is one of ``held`` (no ERP order, account blocked in the ERP)."""
    showing = sorted(n for n, o in crm_orders.items() if o.get("status") == ON_HOLD)
    bad = [f"{n}: on_hold in the CRM, but it has an ERP order or its ERP account is not blocked" for n in showing
           if n not in held]
    return _check("CRM orders on hold: account blocked in the ERP, no ERP order", len(showing), bad)


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
