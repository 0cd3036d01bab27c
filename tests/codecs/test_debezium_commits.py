"""Which transactions committed before a change, read from the captured PostgreSQL and MariaDB events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.codecs import decode
from streams.codecs.debezium.commits import CommitMark, change_floor, committed_before, end_mark
from streams.codecs.debezium.envelope import ChangeEvent, TransactionEvent, TransactionStatus

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"


def _event(name: str) -> object:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return decode(json.dumps(data["value"]).encode(), json.dumps(data["key"]).encode(), topic=data["topic"])


def _end(name: str) -> CommitMark | None:
    event = _event(name)
    assert isinstance(event, TransactionEvent)
    return end_mark(event)


def _floor(name: str) -> CommitMark | None:
    event = _event(name)
    assert isinstance(event, ChangeEvent)
    return change_floor(event)


def test_a_postgresql_change_streamed_after_a_commit_is_later_than_it() -> None:
    end = _end("crm_transaction_end_1")  # transaction 817
    assert end == CommitMark("lsn", 27479792)
    assert committed_before(end, _floor("crm_contacts_c_1"))  # transaction 818, streamed after 817's commit


def test_a_postgresql_change_is_not_later_than_its_own_or_a_later_commit() -> None:
    assert _floor("crm_customers_u_1") is None  # the first after the connector started: no last commit named
    assert not committed_before(CommitMark("lsn", 27482289), _floor("crm_customers_d_1"))


def test_mariadb_gtids_of_one_domain_order_the_commits() -> None:
    end = _end("erp_transaction_end_1")  # GTID 0-1-51
    assert end == CommitMark("gtid:0", 51)
    assert committed_before(end, _floor("erp_accounts_d_1"))  # 0-1-57
    assert not committed_before(end, _floor("erp_accounts_u_1"))  # 0-1-51, the transaction's own change


def test_marks_of_different_streams_say_nothing() -> None:
    assert not committed_before(CommitMark("gtid:1", 3), CommitMark("gtid:0", 57))
    assert not committed_before(CommitMark("lsn", 3), CommitMark("gtid:0", 57))
    assert not committed_before(None, CommitMark("lsn", 57))


def test_a_mysql_gtid_orders_commits_of_its_server() -> None:
    uuid = "3E11FA47-71CA-11E1-9E33-C80AA9429562"
    end = TransactionEvent(status=TransactionStatus.END, id=f"{uuid}:23", ts_ms=0)
    assert end_mark(end) == CommitMark(f"gtid:{uuid.lower()}", 23)
