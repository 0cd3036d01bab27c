"""An entity decided with nothing to send, into which only child rows were folded since, is not decided again
(``CustomerState.settled``, issue 17): the same commands go out as when every change is decided; a change of the
record, a dead letter, the tick or a deferred decision in between has it decided again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from customer_harness import Harness
from support.tx_events import with_ends

import streams.flows.customers.flow as flow_module
from streams.flows.engine.local import LocalRun

NUMBER = "C-710001"


def _decisions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the entities ``decide`` is called for, in order."""
    called: list[str] = []
    decide = flow_module.decide

    def counted(state: Any, *args: Any, **kwargs: Any) -> Any:
        called.append(state.customer_number)
        return decide(state, *args, **kwargs)

    monkeypatch.setattr(flow_module, "decide", counted)
    return called


def _run(harness: Harness, records: list[tuple[str, bytes | None, bytes | None]], *,
         tick_after: int | None = None) -> LocalRun:
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    for n, (topic, key, value) in enumerate(with_ends(records)):
        asyncio.run(run.feed([run.record(topic, key, value)]))
        if tick_after is not None and n == tick_after:
            run.tick()
    run.end_batch()
    return run


def _sync(harness: Harness) -> list[tuple[str, bytes | None, bytes | None]]:
    systems = harness.systems
    return [systems.crm_create(NUMBER, name="Settled Co", email="a@settled.cn"), systems.crm_contact(NUMBER),
            systems.crm_contact(NUMBER), systems.crm_contact(NUMBER), systems.crm_edit(NUMBER, phone="021-555"),
            systems.crm_contact(NUMBER)]


def test_child_rows_after_a_decision_with_nothing_to_send_are_not_decided_again(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    decided = _decisions(monkeypatch)
    run = _run(harness, _sync(harness))
    # the create (a command), the first contact (nothing: settled), the next two contacts not decided, the edit (its
    # update), the last contact (after a decision that sent something: decided)
    assert decided == [NUMBER] * 4
    commands = [e for e in run.context.emitted if e.topic.startswith("isthmus.commands.")]
    assert len(commands) == 2


def test_the_same_output_as_deciding_every_change(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    decided = _decisions(monkeypatch)
    records = _sync(harness)
    skipped = _run(harness, records)
    monkeypatch.setattr(harness.flow, "_children_unwritten", False)  # every change decided
    every = _run(harness, records)
    assert len(decided) == 4 + 6
    assert [(e.topic, e.key) for e in skipped.context.emitted] == [(e.topic, e.key) for e in every.context.emitted]
    assert skipped.context.memory["entities"].get_raw(NUMBER) == every.context.memory["entities"].get_raw(NUMBER)


def test_a_tick_in_between_has_the_entity_decided_again(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    decided = _decisions(monkeypatch)
    systems = harness.systems
    records = [systems.crm_create(NUMBER, name="Settled Co", email="a@settled.cn"), systems.crm_contact(NUMBER),
               systems.crm_contact(NUMBER)]
    _run(harness, records, tick_after=3)  # after the first contact and its END
    assert decided == [NUMBER] * 3


def test_a_record_change_clears_the_mark(harness: Harness) -> None:
    systems = harness.systems
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    for topic, key, value in with_ends([systems.crm_create(NUMBER, name="Settled Co", email="a@settled.cn"),
                                        systems.crm_contact(NUMBER)]):
        asyncio.run(run.feed([run.record(topic, key, value)]))
    entities = harness.flow._entities(run.context)
    assert entities.get(NUMBER).settled is not None
    for topic, key, value in with_ends([systems.crm_edit(NUMBER, phone="021-555")]):
        asyncio.run(run.feed([run.record(topic, key, value)]))
    assert entities.get(NUMBER).settled is None  # its edit sent an update
