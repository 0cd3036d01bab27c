"""The batcher: concurrent attempts of one route coalesced into batch calls, each judged on its own item."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.sinks.adapters.batching import Batcher, BatchItem
from streams.sinks.config.model import BatchSpec
from streams.sinks.outcomes import Applied, Attempt, Failed

SPEC = BatchSpec(method="POST", path="/things/batch", max_items=3, linger_ms=5)


def _item(n: int) -> BatchItem:
    return BatchItem(key=f"k{n}", fields={"n": n}, method="POST", path="/things", body={"n": n}, ids=("id",))


class Target:
    """Answers batch calls from a function of the items; records every call."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[dict[str, Any]]] = []
        self.singles: list[str] = []

    async def call(self, method: str, path: str, body: Any) -> tuple[int, Any, float | None] | Failed:
        assert (method, path) == ("POST", "/things/batch")
        self.calls.append(body["items"])
        answered: tuple[int, Any, float | None] | Failed = self.answer(body["items"])
        return answered

    async def single(self, item: BatchItem) -> Attempt:
        self.singles.append(item.key)
        return Applied(status=201, body={"id": item.fields["n"]})


async def _submit_all(target: Target, count: int) -> list[Attempt]:
    batcher = Batcher(SPEC, system="TEST", call=target.call, single=target.single)
    try:
        return list(await asyncio.gather(*(batcher.submit(_item(n)) for n in range(count))))
    finally:
        await batcher.close()


def test_concurrent_attempts_share_calls_of_at_most_max_items_and_each_gets_its_own_answer() -> None:
    def answer(items: list[dict[str, Any]]) -> tuple[int, Any, None]:
        results = [{"status": 201, "body": {"id": i["n"]}, "idempotency_key_status": "stored"} for i in items]
        results[0] = {"status": 422, "body": {"error": "bad n", "field": "n"}, "idempotency_key_status": "refused"}
        if items[-1]["n"] == 4:
            results[-1]["idempotency_key_status"] = "replayed"
        return 200, {"results": results}, None

    target = Target(answer)
    outcomes = asyncio.run(_submit_all(target, 5))

    assert [[i["idempotency_key"] for i in call] for call in target.calls] == [["k0", "k1", "k2"], ["k3", "k4"]]
    assert [type(o).__name__ for o in outcomes] == ["Failed", "Applied", "Applied", "Failed", "Applied"]
    assert isinstance(outcomes[0], Failed) and outcomes[0].kind == "permanent" and "bad n" in outcomes[0].reason
    assert isinstance(outcomes[4], Applied) and outcomes[4].replayed and outcomes[4].ids == {"id": "4"}
    assert isinstance(outcomes[1], Applied) and not outcomes[1].replayed


def test_a_throttled_call_fails_every_item_transiently_with_the_retry_after() -> None:
    target = Target(lambda items: (429, {"error": "slow down"}, 2.0))
    outcomes = asyncio.run(_submit_all(target, 2))

    assert all(isinstance(o, Failed) and o.kind == "transient" and o.retry_after == 2.0 for o in outcomes)
    assert target.singles == []


def test_no_answer_fails_every_item_transiently() -> None:
    target = Target(lambda items: Failed(kind="transient", reason="no answer", error_type="ConnectTimeout"))
    outcomes = asyncio.run(_submit_all(target, 2))

    assert all(isinstance(o, Failed) and o.error_type == "ConnectTimeout" for o in outcomes)


def test_a_call_refused_whole_or_answered_without_results_sends_its_items_one_by_one() -> None:
    missing = Target(lambda items: (404, {"error": "no route"}, None))
    short = Target(lambda items: (200, {"results": []}, None))

    refused_outcomes = asyncio.run(_submit_all(missing, 2))
    short_outcomes = asyncio.run(_submit_all(short, 2))

    assert missing.singles == ["k0", "k1"] and short.singles == ["k0", "k1"]
    assert all(isinstance(o, Applied) for o in [*refused_outcomes, *short_outcomes])
