"""The chaos suite's pure helpers: the fault schedule and the invariant checks."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from chaos import invariants
from chaos.exceptions import InvalidChaosOptions
from chaos.invariants import CommandSeen
from chaos.runner import ChaosOptions
from chaos.schedule import KINDS, TARGETED, plan

pytestmark = pytest.mark.unit


def command(target: str, key: str, position: str = "", *, entity: str = "C-000001") -> CommandSeen:
    return CommandSeen(target=target, idempotency_key=key, entity_key=entity,
                       payload_type="isthmus.canonical.Account", operation="create", position=position)


def test_every_fault_kind_is_planned_at_least_twice_with_targets_alternating() -> None:
    faults = plan(duration_s=300, repeats=2)
    assert Counter(f.kind for f in faults) == {kind: 2 for kind in KINDS}
    for kind in TARGETED:
        assert sorted(f.target or "" for f in faults if f.kind == kind) == ["crm", "erp"]
    assert all(f.target is None for f in faults if f.kind not in TARGETED)
    times = [f.at_s for f in faults]
    assert times == sorted(times) and times[-1] < 300


def test_a_short_workload_stretches_the_schedule_to_the_minimum_gap() -> None:
    faults = plan(duration_s=10, repeats=3, min_gap_s=8)
    assert len(faults) == 18
    assert [f.at_s for f in faults[:3]] == [8.0, 16.0, 24.0]


def test_a_throttle_never_lands_inside_an_outage_of_its_own_system() -> None:
    faults = plan(duration_s=60, repeats=4, min_gap_s=8, outage_s=60)
    outages = [(f.at_s, f.target) for f in faults if f.kind == "outage"]
    throttles = [(f.at_s, f.target) for f in faults if f.kind == "throttle"]
    assert len(throttles) == 4
    for at, target in throttles:
        assert not any(t == target and began <= at < began + 60 for began, t in outages), (at, target)


@pytest.mark.parametrize("repeats", [0, 1])
def test_fewer_than_two_repeats_is_refused(repeats: int) -> None:
    with pytest.raises(InvalidChaosOptions, match="at least twice"):
        plan(duration_s=100, repeats=repeats)


def test_bad_options_are_all_named() -> None:
    with pytest.raises(InvalidChaosOptions) as caught:
        ChaosOptions(changes=0, rate=5000, poison=0)
    text = str(caught.value)
    assert "--changes 0" in text and "--rate 5000" in text and "--poison 0" in text


def test_applied_once_counts_keys_without_a_row_as_lost() -> None:
    commands = [command("erp", "k1"), command("erp", "k1"), command("erp", "k2"), command("crm", "k3")]
    applied = {"erp": Counter({"k1": 1, "sim-x": 1}), "crm": Counter()}
    once = invariants.applied_once(commands, applied)
    check = once.check
    assert once.lost == 2 and once.refused == 0 and check.violations == 2 and check.checked == 3
    assert any("k2" in e and "erp" in e for e in check.examples)
    assert any("k3" in e and "crm" in e for e in check.examples)


def test_applied_once_holds_when_every_key_has_exactly_one_row() -> None:
    once = invariants.applied_once([command("erp", "k1"), command("erp", "k1")], {"erp": Counter({"k1": 1})})
    assert once.check.held and once.lost == 0 and once.twice == 0 and "ok" in once.check.line()


def test_a_dead_lettered_command_is_refused_not_lost_and_still_a_violation() -> None:
    commands = [command("erp", "k1", "isthmus.commands.erp[0]@7"), command("erp", "k2", "isthmus.commands.erp[1]@3")]
    once = invariants.applied_once(commands, {"erp": Counter()}, ["isthmus.commands.erp[0]@7"])
    assert (once.lost, once.refused, once.check.violations) == (1, 1, 2)
    assert any("k1" in e and "dead-lettered" in e for e in once.check.examples)


def test_a_business_refusal_is_excused_only_while_its_order_is_held() -> None:
    """Refused by the ERP (409 account blocked, a result not a dead letter): fine if the order is on hold at
    the end, a violation if it is not (it should have been sent again and applied)."""
    commands = [command("erp", "k1", entity="SO-000001"), command("erp", "k2", entity="SO-000002")]
    once = invariants.applied_once(commands, {"erp": Counter()}, refused_by_target={"k1", "k2"}, held={"SO-000001"})
    assert (once.lost, once.refused, once.held, once.unreleased, once.check.violations) == (0, 0, 1, 1, 1)
    assert any("k2" in e and "SO-000002 is not held" in e for e in once.check.examples)
    applied_later = invariants.applied_once(commands, {"erp": Counter({"k1": 1, "k2": 1})},
                                            refused_by_target={"k1", "k2"})
    assert applied_later.check.held and applied_later.held == 0


def test_a_key_refused_but_also_applied_twice_is_still_a_duplicate() -> None:
    once = invariants.applied_once([command("erp", "k1")], {"erp": Counter({"k1": 2})}, refused_by_target={"k1"})
    assert once.twice == 1 and not once.check.held


def test_held_orders_are_on_hold_in_the_crm_without_an_erp_order_and_with_a_blocked_account() -> None:
    crm = {"SO-1": {"status": "on_hold", "customer_number": "C-1"},   # held rightly
           "SO-2": {"status": "on_hold", "customer_number": "C-2"},   # account not blocked: should be released
           "SO-3": {"status": "on_hold", "customer_number": "C-1"},   # has an ERP order
           "SO-4": {"status": "submitted", "customer_number": "C-1"}}  # blocked, but the CRM does not show it
    accounts = {"C-1": {"blocked": 1}, "C-2": {"blocked": 0}}
    held = invariants.held_orders(crm, {"SO-3"}, accounts)
    assert held == {"SO-1"}
    check = invariants.holds_are_right(crm, held)
    assert (check.checked, check.violations) == (3, 2)
    assert invariants.missing("orders", ["SO-1", "SO-2", "SO-4"], [*{"SO-3"}, *held]).violations == 2


def test_a_source_row_written_twice_is_named() -> None:
    check = invariants.one_per_source("one ERP account per CRM customer", {"C-000001": 1, "C-000002": 2})
    assert not check.held and check.examples == ("C-000002: 2 rows",)
    assert "FAILED" in check.line()


def test_agree_compares_decimals_by_value_and_names_each_difference() -> None:
    pairs = {
        "C-000001": ({"credit_limit": Decimal("5000.00"), "name": "A"}, {"credit_limit": "5000", "name": "A"}),
        "C-000002": ({"credit_limit": Decimal("1.00"), "name": "B"}, {"credit_limit": "2.00", "name": "b"}),
    }
    check = invariants.agree("fields", pairs, {"credit_limit": "credit_limit", "name": "name"})
    assert check.violations == 1
    assert check.examples[0].startswith("C-000002: credit_limit=Decimal('1.00') vs credit_limit='2.00'; name=")


def test_agree_treats_empty_text_and_null_alike() -> None:
    check = invariants.agree("fields", {"k": ({"phone": ""}, {"phone": None})}, {"phone": "phone"})
    assert check.held


def test_missing_names_each_absent_key() -> None:
    check = invariants.missing("accounts", ["C-1", "C-2"], ["C-1"])
    assert check.examples == ("C-2: missing",)


def test_quiet_fails_on_any_new_command() -> None:
    assert invariants.quiet(10, 10, 30).held
    grew = invariants.quiet(10, 12, 30)
    assert grew.violations == 2 and "2 new commands within 30s" in grew.examples[0]


def test_dead_letters_must_be_exactly_the_poison_once_per_stage() -> None:
    assert invariants.only_poison([("p1", "flow.a"), ("p1", "flow.b"), ("p2", "flow.a")], ["p1", "p2"]).held
    check = invariants.only_poison([("p1", "flow.a"), ("p1", "flow.a"), ("C-000007", "sink.erp")], ["p1", "p2"])
    assert check.violations == 3
    assert "'C-000007' [sink.erp] was not injected" in check.examples[0]
    assert any("'p1' dead-lettered 2 times by flow.a" in e for e in check.examples)
    assert any("'p2' was never dead-lettered" in e for e in check.examples)


def test_a_mariadb_boolean_equals_a_postgresql_one() -> None:
    pairs = {"C-1": ({"blocked": True}, {"blocked": 1}), "C-2": ({"blocked": False}, {"blocked": 1})}
    check = invariants.agree("blocked", pairs, {"blocked": "blocked"})
    assert check.violations == 1 and check.examples[0].startswith("C-2:")
