"""Issue 14, "Proof on a real system": the reference CRM and Tryton (trytond 8.2 from PyPI, a real ERP the
project did not write) synced by the files of ``examples/tryton/`` alone, through Tryton's JSON-RPC API
(session login, errors under HTTP 200, no Idempotency-Key; the party code as the external id).

Both directions where the systems and the entity block allow them: a customer created, renamed, deleted and
re-created in the CRM reaches Tryton (a party made, renamed, archived, made active again: never two at once);
a party renamed in Tryton reaches the CRM; a party deleted in Tryton deletes the customer (a delete in either
system ends it in both). Then a fixed point: no further commands, nothing echoed. A party born in Tryton:
test_tryton_born.py; archive details: test_tryton_archive.py; e-mail and phone: test_tryton_contacts.py.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from psycopg.rows import dict_row
from support.pipeline import command_counts, pipeline
from support.waiting import eventually, quiet

from streams.stack.settings import StackSettings

if TYPE_CHECKING:
    from tryton_example.conftest import TrytonExample

CRM, ERP = "refcrm", "tryton"
FLOW = "tryton-parties"


def test_the_example_is_configuration_only() -> None:
    from tryton_example.conftest import example_files

    files = example_files()
    assert {p.name for p in files} >= {"tryton.yaml", "refcrm.yaml", "tryton-source.yaml", "parties.yaml",
                                       "customer.yaml", "party.yaml", "README.md"}
    assert [p for p in files if p.suffix == ".py"] == []


def sink_urls(example: TrytonExample) -> dict[str, str]:
    """The base URL each sink is pointed at, by system. The target files name the stack's default ports; the sinks
    are pointed at the configured ones (Tryton's only when it differs, so the example's own target file is what
    runs by default)."""
    settings = example.stack.settings
    urls = {CRM: settings.crm_api_url}
    if settings.tryton_port != StackSettings().tryton_port:
        urls[ERP] = example.rpc_url
    return urls


@pytest.fixture
def processes(tryton_example: TrytonExample, tmp_path: Path) -> Iterator[Path]:
    """`isthmus worker` running only the example's flow, and `isthmus sink --target` for each system."""
    settings = tryton_example.stack.settings
    worker_env = {**tryton_example.env, "ISTHMUS_WORKER_ID": "tryton-example", "ISTHMUS_WORKER_FLOWS": FLOW}
    urls = sink_urls(tryton_example)
    sinks = {system: {**tryton_example.env, **({"ISTHMUS_SINK_BASE_URL": urls[system]} if system in urls else {})}
             for system in (CRM, ERP)}
    with pipeline(host=settings.host, worker_env=worker_env, sinks=sinks, logs=tmp_path) as logs:
        yield logs


class Tryton:
    """Tryton as its users reach it: JSON-RPC with a session; its rows read from its database."""

    def __init__(self, example: TrytonExample) -> None:
        self.stack = example.stack
        self.url = example.rpc_url
        password = self.stack.secrets.tryton_admin_password.reveal()
        answer = httpx.post(self.url, json={"id": 0, "method": "common.db.login",
                                            "params": ["admin", {"password": password}, "en"]}, timeout=10).json()
        user_id, session = answer["result"][:2]
        token = base64.b64encode(f"admin:{user_id}:{session}".encode()).decode()
        self.headers = {"Authorization": f"Session {token}"}

    def call(self, method: str, *params: Any) -> Any:
        answer = httpx.post(self.url, json={"id": 1, "method": method, "params": list(params)},
                            headers=self.headers, timeout=10).json()
        assert "error" not in answer, answer
        return answer["result"]

    def parties(self, code: str) -> list[dict[str, Any]]:
        with self.stack.connect_crm(dbname=self.stack.settings.tryton_db_name, autocommit=True,
                                    row_factory=dict_row) as conn:
            return conn.execute("SELECT id, code, name, active FROM party_party WHERE code = %s ORDER BY id",
                                (code,)).fetchall()

    def party(self, code: str) -> dict[str, Any] | None:
        found = self.parties(code)
        assert len(found) <= 1, f"more than one party with code {code}: {found}"
        return found[0] if found else None


class Crm:
    """The reference CRM through its HTTP API."""

    def __init__(self, example: TrytonExample) -> None:
        self.base = example.stack.settings.crm_api_url

    def create(self, number: str, name: str) -> None:
        answer = httpx.post(f"{self.base}/customers", json={"customer_number": number, "name": name}, timeout=10)
        assert answer.status_code == 201, answer.text

    def rename(self, number: str, name: str) -> None:
        answer = httpx.patch(f"{self.base}/customers/{number}", json={"name": name}, timeout=10)
        assert answer.status_code == 200, answer.text

    def delete(self, number: str) -> None:
        answer = httpx.delete(f"{self.base}/customers/{number}", timeout=10)
        assert answer.status_code == 204, answer.text

    def name(self, number: str) -> str | None:
        answer = httpx.get(f"{self.base}/customers/{number}", timeout=10)
        return str(answer.json()["name"]) if answer.status_code == 200 else None


def _settled(example: TrytonExample, quiet_s: float = 10, timeout: float = 120) -> dict[str, int]:
    """The command counts once no command has been added for ``quiet_s`` (the flow caught up)."""
    def counts() -> dict[str, int]:
        return command_counts(example.stack.settings.bootstrap_servers, (CRM, ERP))

    return quiet("the commands to stop coming (else: an echo loop)", counts, settle=quiet_s, timeout=timeout,
                 every=1, context=lambda: f"still changing: {counts()}")


def test_crm_and_tryton_sync_both_ways_by_the_example_files(tryton_example: TrytonExample,
                                                            processes: Path) -> None:
    tryton, crm = Tryton(tryton_example), Crm(tryton_example)
    # The example's number range (examples/tryton/README.md, "Scope"); unique per run.
    number = f"C-802{random.randrange(10**7):07d}"

    def party_where(condition: Callable[[dict[str, Any]], bool]) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            party = tryton.party(number)
            return party if party is not None and condition(party) else None
        return probe

    # CRM -> Tryton, create: a customer becomes a party whose code is the customer number.
    crm.create(number, "Tryton Probe Ltd")
    party = eventually("the customer becomes a party", party_where(lambda p: True), processes)
    assert (party["name"], party["active"]) == ("Tryton Probe Ltd", True)
    party_id = party["id"]

    # CRM -> Tryton, update.
    crm.rename(number, "Tryton Probe plc")
    eventually("the new name reaches the party", party_where(lambda p: p["name"] == "Tryton Probe plc"), processes)

    # Tryton -> CRM, update: a name edited in Tryton (through its API) wins as the latest commit.
    tryton.call("model.party.party.write", [party_id], {"name": "Tryton Probe Group"}, {})
    eventually("Tryton's name reaches the CRM",
                lambda: True if crm.name(number) == "Tryton Probe Group" else None, processes)

    # CRM -> Tryton, delete: the party is archived (tests/tryton_example/test_tryton_archive.py has the details).
    crm.delete(number)
    eventually("the CRM delete archives the party", party_where(lambda p: p["active"] is False), processes)

    # CRM -> Tryton, re-create: the same party, active again and renamed, one only (tryton.party checks).
    crm.create(number, "Tryton Probe Again")
    party = eventually("the re-created customer makes the party active again",
                        party_where(lambda p: p["name"] == "Tryton Probe Again"), processes)
    assert party["id"] == party_id and party["active"] is True

    # Tryton -> CRM, delete: a party deleted in Tryton deletes the customer, and is not made again.
    tryton.call("model.party.party.delete", [party_id], {})
    eventually("a party deleted in Tryton deletes the customer",
                lambda: True if crm.name(number) is None else None, processes)

    # Fixed point: no further commands to either system over a quiet period, both systems as they are.
    before = _settled(tryton_example)
    snapshot = (tryton.parties(number), crm.name(number))
    time.sleep(15)
    after = command_counts(tryton_example.stack.settings.bootstrap_servers, (CRM, ERP))
    assert after == before, "commands kept coming after the burst: an echo loop"
    assert (tryton.parties(number), crm.name(number)) == snapshot
    assert before[CRM] > 0 and before[ERP] > 0
    assert snapshot == ([], None)
