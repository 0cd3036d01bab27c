"""Null is a value and clocks of different precision, on the real stack: raw SQL into both databases, the customer
flow in `isthmus worker`, the ERP and CRM sinks as processes.

A CRM e-mail set to NULL is cleared in the ERP. An ERP edit made on top of a CRM edit in the same second wins:
MariaDB's binlog keeps whole seconds, so the ERP's commit time reads earlier than the CRM's microsecond one; the
ERP session's `SET timestamp` pins its commit to the CRM edit's second (what a round trip under a second gives
by itself), so every run exercises the tie.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pymysql
from support.pipeline import eventually, pipeline

from streams.stack.running import RunningStack

FLOW = "isthmus-customers"


def _account(stack: RunningStack, number: str) -> dict[str, Any] | None:
    conn = stack.connect_erp(autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT account_id, email, phone FROM accounts WHERE crm_customer_number = %s", (number,))
            row: dict[str, Any] | None = cur.fetchone()
            return row
    finally:
        conn.close()


def _customer(stack: RunningStack, number: str) -> dict[str, Any] | None:
    with stack.connect_crm(autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT email, phone, erp_account_id FROM crm.customers WHERE customer_number = %s", (number,))
        found = cur.fetchone()
        return None if found is None else {"email": found[0], "phone": found[1], "erp_account_id": found[2]}


def _crm(stack: RunningStack, sql: str, *params: Any) -> dt.datetime:
    """Run ``sql`` in its own CRM transaction; returns the transaction's time (just before its commit)."""
    with stack.connect_crm() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        cur.execute("SELECT clock_timestamp()")
        row = cur.fetchone()
        assert row is not None
        conn.commit()
        at: dt.datetime = row[0]
        return at


def _start_of_a_second() -> None:
    """Wait until a tenth past a second, so a commit made now stays in that second for a while."""
    now = time.time()
    time.sleep((1 - now % 1) + 0.1)


def test_a_crm_null_is_cleared_in_the_erp_and_a_same_second_erp_edit_on_top_wins(
        stack: RunningStack, tmp_path: Path) -> None:
    number = f"C-7{random.randrange(10**7):07d}"
    with pipeline(host=stack.settings.host, logs=tmp_path,
                  worker_env={"ISTHMUS_WORKER_FLOWS": FLOW, "ISTHMUS_WORKER_ID": f"nullclock-{uuid.uuid4().hex[:6]}"},
                  sinks={"erp": {}, "crm": {}}) as logs:
        _crm(stack, "INSERT INTO crm.customers (customer_number, name, email, phone) VALUES (%s, %s, %s, %s)",
             number, "Null Clock Ltd", "nc@example.cn", "111")
        eventually("the ERP account with the CRM's e-mail",
                   lambda: _account(stack, number) if (_account(stack, number) or {}).get("email") else None,
                   logs, timeout=180)

        # null is a value: the CRM clears the e-mail, the ERP's is cleared
        _crm(stack, "UPDATE crm.customers SET email = NULL, version = version + 1 WHERE customer_number = %s", number)
        eventually("the ERP's e-mail cleared", lambda: (_account(stack, number) or {"email": "-"})["email"] is None
                   or None, logs)

        # the CRM edits the phone; once the ERP has it, an ERP user edits it in the same second
        _start_of_a_second()
        crm_at = _crm(stack, "UPDATE crm.customers SET phone = '222', version = version + 1 WHERE customer_number = %s",
                      number)
        eventually("the CRM's phone in the ERP", lambda: (_account(stack, number) or {}).get("phone") == "222"
                   or None, logs)
        conn = stack.connect_erp(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SET timestamp = %s", (int(crm_at.timestamp()),))
                cur.execute("UPDATE accounts SET phone = '333', version = version + 1 WHERE crm_customer_number = %s",
                            (number,))
        finally:
            conn.close()
        eventually("the ERP's edit in the CRM", lambda: (_customer(stack, number) or {}).get("phone") == "333"
                   or None, logs)
        time.sleep(5)  # quiescence: nothing may take it back
        account, customer = _account(stack, number), _customer(stack, number)
        assert account is not None and customer is not None
        assert (account["phone"], customer["phone"]) == ("333", "333")
        assert (account["email"], customer["email"]) == (None, None)
