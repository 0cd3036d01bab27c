"""An entity that only a system that is no origin holds: created nowhere else, ended by nothing, now held visibly.

A new user's trial synced order-system orders (the origin) into a stock system's table (no origin). Changing a
reservation's key in the stock system (``UPDATE Order SET res_id = <new uuid>``) made the old key's entity be created
again from the origin (right), but the new key's, which only the stock system held, stayed there for good, with
nothing said: a canonical record published, no WARNING, no hold, no dead letter, nothing in ``isthmus status``. Now
such an entity, found so for ``ISTHMUS_PARKED_HOLD_AFTER_S``, is a Hold (cause ``no_origin``), said once with its
fix and counted; released when an origin gets it, when its row is deleted, or when it ends.

On the made-up market hall (tests/flows/customers/stalls/), born in the hall's register only (``origin: hall``), with
``active`` ended by the hall's delete: the rent ledger is no origin.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import decode_topic
from test_entity_ignored_deletes import HERE, T0, Stalls, stall, tenant

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers.no_origin import HELD_COUNT, NO_ORIGIN, SAID_PER_TICK
from streams.flows.customers.state import CustomerState
from streams.flows.topics import HOLDS

pytestmark = pytest.mark.unit

WAIT = 300.0
#: When the wait of an entity found so at ``T0`` (the flow's clock) is over.
DUE = T0.timestamp() + WAIT


def _folder(tmp_path: Path, *, active: bool = True) -> Path:
    """The stalls' folder, born in the hall only; with ``active``, which the hall's delete sets false (it wins it)."""
    folder = tmp_path / "stalls"
    shutil.copytree(HERE, folder)
    flow = folder / "flows" / "stalls.yaml"
    flow.write_text(flow.read_text().replace("  origin: [hall, rent]\n", "  origin: hall\n" + (
        "  active: active\n" if active else "  deletes: ignore\n")))
    if active:
        mapping = folder / "mappings" / "stall.yaml"
        text = mapping.read_text()
        text = text.replace("  email: {owner: hall, policy: latest_commit_wins}\n",
                            "  email: {owner: hall, policy: latest_commit_wins}\n"
                            "  active: {owner: hall, policy: latest_commit_wins}\n")
        text = text.replace("      email: email\n  rent_tenant:",
                            "      email: email\n    on_delete: {set: {active: false}}\n  rent_tenant:")
        mapping.write_text(text)
    return folder


@pytest.fixture
def stalls(schemas: SchemaStore, tmp_path: Path) -> Stalls:
    return Stalls(schemas, _folder(tmp_path))


def _holds(stalls: Stalls) -> list[Mapping[str, Any]]:
    return [h for h in decode_topic(stalls.run.context.emitted, HOLDS, stalls.schemas) if h["cause"] == NO_ORIGIN]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and NO_ORIGIN in r.getMessage()]


def _held(stalls: Stalls) -> int:
    return stalls.run.context.counts[HELD_COUNT]


def _in_both(stalls: Stalls, code: str, row: int) -> None:
    """A stall made in the hall, created in the rent ledger, its tenant row (the create's echo) read back."""
    (create,) = stalls.feed(stalls.change("stall", "c", after=stall(code, row)))
    assert (create.record["target"], create.record["operation"]) == ("rent", "create")
    assert stalls.feed(stalls.change("tenant", "c", after=tenant(code, row + 500))) == []


def test_a_row_only_the_non_origin_holds_is_held_once_after_the_wait_with_its_fix(
        stalls: Stalls, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streams.flows.customers"):
        assert stalls.feed(stalls.change("tenant", "c", after=tenant("S-41", 541))) == []
        stalls.run.tick(now_s=DUE - 1, hold_after_s=WAIT)
        assert _holds(stalls) == [] and _warnings(caplog) == [], "within the wait: an origin's row may be on its way"

        stalls.run.tick(now_s=DUE, hold_after_s=WAIT)
        (held,) = _holds(stalls)
        assert (held["entity_key"], held["state"], held["cause"], held["origin"], held["target"]) == (
            "test-stalls:no_origin:S-41", "held", "no_origin", "rent", "hall")
        assert held["entity_type"] == "isthmus.canonical.Customer"
        message = held["message"]
        for said in ("rent (erp_account_id 541) holds Customer S-41 that no origin (hall) has",
                     "rent is no origin of test-stalls, so the entity is created nowhere else and nothing ends it "
                     "there", "Fix: delete the row in rent, create it in hall (under the same customer_number",
                     "or make rent an origin (`origin: [hall, rent]`; flows/README.md, `origin` and \"An entity no "
                     "origin has\")", "the hold is released then"):
            assert said in message, (said, message)
        (warning,) = _warnings(caplog)
        assert warning.startswith("test-stalls: rent (erp_account_id 541) holds Customer S-41") and message in warning
        assert HELD_COUNT in warning and _held(stalls) == 1

        # said once per entity: its next changes and ticks hold it no more
        assert stalls.feed(stalls.change("tenant", "u", before=tenant("S-41", 541),
                                         after={**tenant("S-41", 541), "name": "Stall S-41b"})) == []
        stalls.run.tick(now_s=DUE + 600, hold_after_s=WAIT)
        assert len(_holds(stalls)) == 1 and len(_warnings(caplog)) == 1 and _held(stalls) == 1

        # the hall gets it: released, and the entity goes on as one both hold
        stalls.feed(stalls.change("stall", "c", after=stall("S-41", 41)))
        released = _holds(stalls)[-1]
        assert (released["entity_key"], released["state"]) == ("test-stalls:no_origin:S-41", "released")
        assert released["message"] == "Customer S-41: an origin holds it: hall has it now; it goes on"
        stalls.run.tick(now_s=DUE + 1200, hold_after_s=WAIT)
    assert len(_holds(stalls)) == 2 and _held(stalls) == 1
    assert stalls.dead_letters == []


def test_the_trials_key_changed_in_the_non_origin_holds_the_new_key(stalls: Stalls) -> None:
    """``UPDATE tenant SET code = 'S-77'``: the old key is created in the rent ledger again from the hall (right);
    the new key, which only the rent ledger holds, is held."""
    _in_both(stalls, "S-51", 51)
    sent = stalls.feed(stalls.change("tenant", "u", before=tenant("S-51", 551), after=tenant("S-77", 551)))
    assert [(s.key, s.record["target"], s.record["operation"]) for s in sent] == [("S-51", "rent", "create")]
    stalls.run.tick(now_s=DUE + 10, hold_after_s=WAIT)
    (held,) = _holds(stalls)
    assert (held["entity_key"], held["state"]) == ("test-stalls:no_origin:S-77", "held")
    assert "rent (erp_account_id 551) holds Customer S-77" in held["message"]
    assert _held(stalls) == 1


def test_a_held_row_deleted_is_released(stalls: Stalls) -> None:
    stalls.feed(stalls.change("tenant", "c", after=tenant("S-42", 542)))
    stalls.run.tick(now_s=DUE, hold_after_s=WAIT)
    assert [h["state"] for h in _holds(stalls)] == ["held"]
    assert stalls.feed(stalls.change("tenant", "d", before=tenant("S-42", 542))) == []
    released = _holds(stalls)[-1]
    assert released["state"] == "released" and "its rows are gone" in released["message"]


def test_an_entity_both_hold_is_never_held(stalls: Stalls) -> None:
    _in_both(stalls, "S-43", 43)
    # the first sync of data both hold already: the rent ledger's row read first, the hall's within the wait
    stalls.feed(stalls.change("tenant", "r", after=tenant("S-44", 544)))
    stalls.feed(stalls.change("stall", "r", after=stall("S-44", 44)))
    stalls.run.tick(now_s=DUE + 3600, hold_after_s=WAIT)
    assert _holds(stalls) == [] and _held(stalls) == 0
    assert list(stalls.run.context.stores[NO_ORIGIN].items()) == [], "nothing left waiting"


def test_an_ended_entity_the_non_origin_keeps_is_not_held(stalls: Stalls) -> None:
    """The hall's delete ends the stall (``active`` false); the rent ledger keeps its row, ended."""
    _in_both(stalls, "S-45", 45)
    stalls.feed(stalls.change("stall", "d", before=stall("S-45", 45)))
    assert stalls.published("S-45")["active"] is False
    stalls.run.tick(now_s=DUE + 3600, hold_after_s=WAIT)
    assert _holds(stalls) == [] and _held(stalls) == 0


def test_an_entity_ended_while_held_is_released(stalls: Stalls) -> None:
    """Held in the rent ledger, then ended by the hall's delete of its row (made and deleted there before the
    flow read it: the delete is all the flow sees)."""
    stalls.feed(stalls.change("tenant", "c", after=tenant("S-46", 546)))
    stalls.run.tick(now_s=DUE, hold_after_s=WAIT)
    stalls.feed(stalls.change("stall", "d", before=stall("S-46", 46)))
    assert [h["state"] for h in _holds(stalls)] == ["held", "released"]
    assert "has ended (active false)" in _holds(stalls)[-1]["message"]


def test_without_active_the_origins_delete_the_flow_says_so_is_not_held(
        schemas: SchemaStore, tmp_path: Path) -> None:
    """No ``active``, ``deletes: ignore``: a delete in the hall leaves the rent ledger's row knowingly."""
    stalls = Stalls(schemas, _folder(tmp_path, active=False))
    _in_both(stalls, "S-47", 47)
    stalls.feed(stalls.change("stall", "d", before=stall("S-47", 47)))
    stalls.run.tick(now_s=DUE + 3600, hold_after_s=WAIT)
    assert _holds(stalls) == []
    # a row the hall never had is held all the same
    stalls.feed(stalls.change("tenant", "c", after=tenant("S-48", 548)))
    stalls.run.tick(now_s=DUE + 3600, hold_after_s=WAIT)
    assert [(h["entity_key"], h["state"]) for h in _holds(stalls)] == [("test-stalls:no_origin:S-48", "held")]


def test_many_at_once_are_held_each_and_said_in_bounded_lines(
        stalls: Stalls, caplog: pytest.LogCaptureFixture) -> None:
    count = SAID_PER_TICK + 5
    stalls.feed(*(stalls.change("tenant", "r", after=tenant(f"S-{n}", 600 + n)) for n in range(count)))
    with caplog.at_level(logging.WARNING, logger="streams.flows.customers"):
        stalls.run.tick(now_s=DUE, hold_after_s=WAIT)
    assert len(_holds(stalls)) == count and _held(stalls) == count
    warnings = _warnings(caplog)
    assert len(warnings) == SAID_PER_TICK + 1
    assert warnings[-1].startswith("test-stalls: 5 more Customers that only systems that are no origin hold, and no "
                                   "origin (hall), are held the same way")


def test_what_waits_survives_the_state_store(stalls: Stalls) -> None:
    config = stalls.flow.config
    state = CustomerState(customer_number="S-49", config=config, record={"name": "Stall"}, no_origin="held")
    for kept in (CustomerState.unpacked("S-49", state.packed(), config), state.copy()):
        assert kept.no_origin == "held"
    assert CustomerState.unpacked("S-49", CustomerState("S-49", config).packed(), config).no_origin is None


def test_made_an_origin_the_next_read_creates_it_and_releases_the_hold(
        stalls: Stalls, schemas: SchemaStore, tmp_path: Path) -> None:
    """The third fix: the flow file makes the rent ledger an origin; the worker, restarted on the same state, reads
    the row again (a snapshot) and creates the stall in the hall."""
    stalls.feed(stalls.change("tenant", "c", after=tenant("S-50", 550)))
    stalls.run.tick(now_s=DUE, hold_after_s=WAIT)
    folder = _folder(tmp_path / "again")
    flow = folder / "flows" / "stalls.yaml"
    flow.write_text(flow.read_text().replace("  origin: hall\n", "  origin: [hall, rent]\n"))
    restarted = Stalls(schemas, folder)
    restarted.run.context = stalls.run.context  # the same stores
    (create,) = restarted.feed(restarted.change("tenant", "r", after=tenant("S-50", 550)))
    assert (create.key, create.record["target"], create.record["operation"]) == ("S-50", "hall", "create")
    assert [h["state"] for h in _holds(stalls)] == ["held", "released"]
    assert _holds(stalls)[-1]["message"] == (
        "Customer S-50: an origin holds it: rent has it now; its create in hall is on its way; it goes on")
