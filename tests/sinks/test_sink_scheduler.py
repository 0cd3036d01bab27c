"""Per-key order with concurrency across keys."""

from __future__ import annotations

from streams.sinks.scheduler import KeyedScheduler


def drain(scheduler: KeyedScheduler[str]) -> list[tuple[object, str]]:
    taken = []
    while (item := scheduler.take()) is not None:
        taken.append(item)
    return taken


def test_one_item_per_key_at_a_time_in_the_order_added() -> None:
    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=10)
    for item in ("a1", "a2", "a3"):
        scheduler.add("a", item)
    scheduler.add("b", "b1")
    assert drain(scheduler) == [("a", "a1"), ("b", "b1")]
    scheduler.finish("a")
    assert drain(scheduler) == [("a", "a2")]
    scheduler.finish("a")
    scheduler.finish("b")
    assert drain(scheduler) == [("a", "a3")]
    scheduler.finish("a")
    assert drain(scheduler) == [] and scheduler.queued == 0 and scheduler.active == 0


def test_no_more_keys_active_than_the_concurrency() -> None:
    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=2)
    for key in "abcd":
        scheduler.add(key, key + "1")
    assert [k for k, _ in drain(scheduler)] == ["a", "b"]
    assert scheduler.active == 2 and scheduler.queued == 2
    scheduler.finish("b")
    assert [k for k, _ in drain(scheduler)] == ["c"]


def test_an_item_added_while_its_key_is_active_waits_for_it() -> None:
    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=4)
    scheduler.add("a", "a1")
    assert drain(scheduler) == [("a", "a1")]
    scheduler.add("a", "a2")
    assert drain(scheduler) == [] and scheduler.is_active("a")
    scheduler.finish("a")
    assert drain(scheduler) == [("a", "a2")]


def test_keys_take_turns_in_the_order_they_became_ready() -> None:
    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=1)
    scheduler.add("a", "a1")
    scheduler.add("a", "a2")
    scheduler.add("b", "b1")
    assert drain(scheduler) == [("a", "a1")]
    scheduler.finish("a")
    assert drain(scheduler) == [("b", "b1")]
    scheduler.finish("b")
    assert drain(scheduler) == [("a", "a2")]


def test_drop_removes_queued_items_but_not_active_ones() -> None:
    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=1)
    scheduler.add("a", "p0-a1")
    scheduler.add("a", "p1-a2")
    scheduler.add("b", "p1-b1")
    drain(scheduler)
    dropped = scheduler.drop(lambda item: item.startswith("p1"))
    assert sorted(dropped) == ["p1-a2", "p1-b1"] and scheduler.queued == 0
    scheduler.finish("a")
    assert drain(scheduler) == []


def test_a_fold_joins_a_keys_next_item_with_those_queued_behind_it_until_one_does_not_fold() -> None:
    def fold(earlier: str, later: str) -> str | None:
        return f"{earlier}+{later}" if later.startswith("u") else None

    scheduler: KeyedScheduler[str] = KeyedScheduler(concurrency=10, fold=fold)
    for item in ("c1", "u2", "u3", "d4", "u5"):
        scheduler.add("a", item)
    assert drain(scheduler) == [("a", "c1+u2+u3")] and scheduler.queued == 2
    scheduler.finish("a")
    assert drain(scheduler) == [("a", "d4+u5")] and scheduler.queued == 0
