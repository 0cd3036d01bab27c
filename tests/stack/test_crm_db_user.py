"""The local stack's PostgreSQL user may create a database of its own (CREATEDB), so a source system of your own
gets one without the superuser: README.md, "Connect your own systems"."""

from __future__ import annotations

import os
import uuid

import pytest

from streams.stack.running import RunningStack


def test_the_stacks_user_creates_and_owns_a_database(stack: RunningStack) -> None:
    if os.environ.get("ISTHMUS_STACK", "local") == "external":
        pytest.skip("an external stack's PostgreSQL user is not the stack's to grant")
    name = f"isthmus_shop_{uuid.uuid4().hex[:8]}"
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        try:
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()
            assert owner == (stack.settings.db_user,)
        finally:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
