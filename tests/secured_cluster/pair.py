"""The second pair's files (tests/second_pair: Rolodex in PostgreSQL, Ledger in MariaDB, written through the SQL
target) under names of their own, so a test on the secured cluster has its own schema, database, replication
slot, publication, server id and topics, and neither disturbs the shared stack nor a second-pair test running
beside it. Every Isthmus name begins with ``isthmus`` (flow, groups, transactional ids, state and published
topics), which is what the Isthmus principal's prefixed ACLs allow."""

from __future__ import annotations

from pathlib import Path

SECOND_PAIR = Path(__file__).resolve().parent.parent / "second_pair"
FOLDERS = ("systems", "mappings", "flows", "targets", "connect-configs", "schema")
#: Old name -> this test's, applied to every file's text and name, in this order.
RENAMES = (("rolodex", "srolodex"), ("ledger", "sledger"), ("second-pair", "isthmus-sc"), ("184201", "184301"))
CRM, ERP = "srolodex", "sledger"
CRM_SCHEMA, ERP_DATABASE, SLOT = "srolodex", "isthmus_sledger", "isthmus_srolodex"
FLOW = "isthmus-sc-parties"
CHANGE_TOPIC_PREFIXES = (f"{CRM}.", f"{ERP}.")


def renamed(text: str) -> str:
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


def copy_pair(target: Path) -> Path:
    """The second pair's folders, renamed, under ``target``; returns ``target``."""
    for folder in FOLDERS:
        for source in sorted((SECOND_PAIR / folder).rglob("*")):
            if source.is_file():
                copied = target / renamed(str(source.relative_to(SECOND_PAIR)))
                copied.parent.mkdir(parents=True, exist_ok=True)
                copied.write_text(renamed(source.read_text(encoding="utf-8")), encoding="utf-8")
    return target
