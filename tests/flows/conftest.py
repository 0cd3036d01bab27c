"""The flows' integration tests write their changes through the CRM and ERP connections of tests/conftest.py
(``crm_db``, ``erp_db``: rows as dicts, autocommit), under the shorter names they use. Each test logs its abandoned
transactions from a fresh budget (:class:`~streams.flows.orders.txjoin.AbandonedLog` is the process's)."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
import pytest

from streams.flows.orders import txjoin


@pytest.fixture
def crm(crm_db: psycopg.Connection[dict[str, Any]]) -> psycopg.Connection[dict[str, Any]]:
    return crm_db


@pytest.fixture
def erp(erp_db: pymysql.connections.Connection[Any]) -> pymysql.connections.Connection[Any]:
    return erp_db


@pytest.fixture(autouse=True)
def abandoned_log(monkeypatch: pytest.MonkeyPatch) -> txjoin.AbandonedLog:
    fresh = txjoin.AbandonedLog()
    monkeypatch.setattr(txjoin, "ABANDONED_LOG", fresh)
    return fresh
