"""A second pair of systems through the same generic flows, by configuration only (issue 13, "Done when").

Rolodex (a CRM in PostgreSQL: companies and people in one ``party`` table, contacts in a child table with a
composite key, the soft-delete flag in a side table) and Ledger (an ERP in MariaDB: debitors keyed by
(company_code, debitor_no), the ERP's own id assigned by the database) share no table or column name with
the reference apps. Neither has an API: the sinks write rows through the SQL target. Everything that makes
them run is in this folder: systems, columns files, connectors, mappings, targets and the flow file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from pymysql.cursors import DictCursor
from support.pipeline import command_counts, pipeline
from support.waiting import eventually

from streams.stack.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from second_pair.conftest import SecondPair

HERE = Path(__file__).resolve().parent
CRM, ERP = "rolodex", "ledger"
FLOW = "second-pair-parties"


def _columns(path: Path) -> set[str]:
    tables = yaml.safe_load(path.read_text(encoding="utf-8"))["tables"]
    return set(tables) | {column for table in tables.values() for column in table["columns"]}


def test_the_second_pair_shares_no_table_or_column_name_with_the_reference_apps() -> None:
    reference = _columns(PROJECT_ROOT / "systems" / "crm.columns.yaml") | _columns(
        PROJECT_ROOT / "systems" / "erp.columns.yaml")
    ours = _columns(HERE / "systems" / f"{CRM}.columns.yaml") | _columns(HERE / "systems" / f"{ERP}.columns.yaml")
    assert {"party", "party_contact", "party_flag", "debitor", "company_code", "debitor_no"} <= ours
    assert ours & reference == set()


@pytest.fixture
def processes(second_pair: SecondPair, tmp_path: Path) -> Iterator[Path]:
    """`isthmus worker` running only this folder's flow, and one `isthmus sink` per system, as real processes."""
    worker_env = {**second_pair.env, "ISTHMUS_WORKER_ID": "second-pair", "ISTHMUS_WORKER_FLOWS": FLOW}
    with pipeline(host=second_pair.stack.settings.host, worker_env=worker_env,
                  sinks={system: second_pair.env for system in (CRM, ERP)}, logs=tmp_path) as logs:
        yield logs


class Pair:
    """Rows of both databases, each read on a fresh autocommit connection (the latest committed state)."""

    def __init__(self, second_pair: SecondPair) -> None:
        self.stack = second_pair.stack

    def crm(self, query: str, *args: Any) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self.stack.connect_crm(autocommit=True, row_factory=dict_row,
                                    options="-c search_path=rolodex") as conn:
            cursor = conn.execute(query, args)
            return cursor.fetchall() if cursor.description else []

    def erp(self, query: str, *args: Any) -> list[dict[str, Any]]:
        conn = self.stack.connect_erp(database="isthmus_ledger", cursorclass=DictCursor, autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(query, args)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def debitor(self, reference: str) -> dict[str, Any] | None:
        rows = self.erp("SELECT * FROM debitor WHERE crm_ref = %s", reference)
        return rows[0] if rows else None

    def party(self, party_id: int) -> dict[str, Any]:
        [row] = self.crm("SELECT * FROM party WHERE party_id = %s", party_id)
        return row


def test_a_second_pair_syncs_both_ways_by_configuration_only(second_pair: SecondPair, processes: Path) -> None:
    pair = Pair(second_pair)
    run = uuid.uuid4().hex[:6].upper()
    reference, person_reference = f"K-{run}", f"P-{run}"

    # A company (with its flag row and a contact) and a person, created in Rolodex in one transaction.
    [company] = pair.crm(
        "WITH c AS (INSERT INTO party (party_kind, display_name, mail, tel, cust_ref) "
        "VALUES ('company', 'Acme GmbH', 'info@acme.example', '+49 30 1234', %s) RETURNING party_id), "
        "f AS (INSERT INTO party_flag (flagged_party, archived) SELECT party_id, false FROM c), "
        "k AS (INSERT INTO party_contact (org_party, seq, given_name, family_name, mail_addr) "
        "SELECT party_id, 1, 'Ada', 'Lovelace', 'ada@acme.example' FROM c) SELECT party_id FROM c", reference)
    party_id = company["party_id"]
    pair.crm("INSERT INTO party (party_kind, display_name, cust_ref) VALUES ('person', 'Ada Lovelace', %s)",
             person_reference)

    # It becomes a debitor under the composite key, with the ERP's own id ...
    debitor = eventually("the company becomes a debitor", lambda: pair.debitor(reference), processes)
    assert (debitor["company_code"], debitor["debitor_no"]) == ("1000", f"D-{run}")
    assert (debitor["title"], debitor["mail_addr"], debitor["tel_no"], debitor["is_live"]) == (
        "Acme GmbH", "info@acme.example", "+49 30 1234", 1)
    uid = debitor["debitor_uid"]
    # ... which comes back to Rolodex: the link.
    eventually("the debitor's id reaches the party",
                lambda: True if pair.party(party_id)["ledger_uid"] == uid else None, processes)

    # A CRM-owned field edited in Rolodex reaches Ledger.
    pair.crm("UPDATE party SET display_name = 'Acme AG' WHERE party_id = %s", party_id)
    eventually("the new name reaches the debitor",
                lambda: True if (pair.debitor(reference) or {}).get("title") == "Acme AG" else None, processes)

    # ERP-owned fields edited in Ledger reach Rolodex.
    pair.erp("UPDATE debitor SET credit_amt = 5000.00, pay_terms = 'NET60', hold_flag = 1 "
             "WHERE company_code = '1000' AND debitor_no = %s", f"D-{run}")

    def credit_in_crm() -> bool | None:
        row = pair.party(party_id)
        return True if (str(row["credit_line"]), row["terms_code"], row["on_hold"]) == (
            "5000.00", "NET60", True) else None

    eventually("the credit data reaches the party", credit_in_crm, processes)

    # The soft-delete flag, in its side table, deactivates the debitor (never deletes it).
    pair.crm("UPDATE party_flag SET archived = true WHERE flagged_party = %s", party_id)
    eventually("archiving deactivates the debitor",
                lambda: True if (pair.debitor(reference) or {}).get("is_live") == 0 else None, processes)

    # Fixed point: no further commands to either system over a quiet period, so nothing Isthmus wrote came
    # back as a change to write again (no echo), and both databases stay as they are.
    before = command_counts(second_pair.stack.settings.bootstrap_servers, (CRM, ERP))
    snapshot = (pair.party(party_id), pair.debitor(reference))
    time.sleep(15)
    after = command_counts(second_pair.stack.settings.bootstrap_servers, (CRM, ERP))
    assert after == before, "commands kept coming after the burst: an echo loop"
    assert (pair.party(party_id), pair.debitor(reference)) == snapshot
    assert before[CRM] > 0 and before[ERP] > 0
    final = pair.debitor(reference)
    assert final is not None and (final["debitor_uid"], final["title"], final["credit_amt"] is not None) == (
        uid, "Acme AG", True)
    # People are parties too, but not customers: no debitor.
    assert pair.debitor(person_reference) is None
