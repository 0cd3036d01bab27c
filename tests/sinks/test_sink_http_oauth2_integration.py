"""A real ``isthmus sink`` writing through Kafka to an API behind OAuth2 client credentials (Ledgerly, a made-up
ledger whose tokens last 2 s): it obtains a token at start, renews it before it expires while commands keep
coming, gets a new one when the provider revokes it early, and applies every command once; no token is logged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ledgerly import ENV, TARGET, ledgerly
from sink_support import SinkProcess, account_payload, command, customer_number, fresh_topics, produce, results_for
from support.waiting import eventually

from streams.stack.running import RunningStack


def test_a_sink_logs_in_with_oauth2_renews_its_token_and_applies_every_command(
        stack: RunningStack, run: int, tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    with ledgerly(lifetime_s=2.0) as api:
        (targets / "erp.yaml").write_text(
            TARGET.format(url=api.url, extra="      refresh_before_s: 1\n").replace("system: ledgerly", "system: erp"),
            encoding="utf-8")
        numbers = [customer_number(run, i) for i in range(30)]
        commands = [command(target="erp", operation="create", payload_type="Account", entity_key=n,
                            payload=account_payload(n)) for n in numbers]
        topics, env = fresh_topics(stack, "oauth2")
        sink = SinkProcess(stack, "erp", {**env, **ENV, "ISTHMUS_SINK_TARGETS_DIR": str(targets),
                                          "ISTHMUS_SINK_BASE_URL": api.url}, name="oauth2")
        try:
            for wave in range(3):  # ten commands a wave, over more than one token's life
                produce(stack, topics.commands, commands[wave * 10:wave * 10 + 10])
                ids = {c["command_id"] for c in commands[:wave * 10 + 10]}
                results: list[dict[str, Any]] = eventually(
                    f"the results of wave {wave}",
                    lambda ids=ids: (found if len(found := results_for(stack, topics.results, ids)) == len(ids)
                                     else None), timeout=60)
                if wave == 1:
                    api.revoke()  # the provider rotated its keys: the token answers 401 before its time
                time.sleep(1.5)
        finally:
            assert sink.stop() == 0, sink.log()
    log = sink.log()
    assert sorted(r["status"] for r in results) == [201] * 30
    assert sorted(api.accounts) == sorted(account_payload(n)["account_code"] for n in numbers)  # each once
    assert len(api.token_requests) >= 3, api.token_requests
    assert "tok-" not in log and ENV["LEDGERLY_CLIENT_SECRET"] not in log
