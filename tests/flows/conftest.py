"""The flows' integration tests write their changes through the CRM and ERP connections of tests/conftest.py
(``crm_db``, ``erp_db``: rows as dicts, autocommit), under the shorter names they use."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
import pytest


@pytest.fixture
def crm(crm_db: psycopg.Connection[dict[str, Any]]) -> psycopg.Connection[dict[str, Any]]:
    return crm_db


@pytest.fixture
def erp(erp_db: pymysql.connections.Connection[Any]) -> pymysql.connections.Connection[Any]:
    return erp_db
