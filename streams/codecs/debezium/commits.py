"""Which source transactions committed before a change, from where Debezium places them in the source's log.

A transaction's END names it: PostgreSQL ``<txId>:<lsn>``, the LSN of its commit; MySQL and MariaDB its GTID
(MariaDB ``<domain>-<server>-<sequence>``, MySQL ``<server uuid>:<sequence>``). A change of a later
transaction carries a *floor*, a mark every transaction at or below which committed before it:

- PostgreSQL: the first element of ``source.sequence``, the LSN of the last commit the connector had streamed
  when it streamed the change. pgoutput streams whole transactions in commit order, so that commit and every
  one before it precede the change's transaction; a transaction committed after it has a greater commit LSN.
- MySQL/MariaDB: the change's GTID sequence less one. GTIDs of one domain (MariaDB) or one server uuid (MySQL)
  are given in binlog order, which is commit order.

Marks of different streams (another GTID domain or server, an id of neither shape, a connector that writes no
sequence) are not comparable, and nothing is concluded from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from streams.codecs.debezium.envelope import ChangeEvent, TransactionEvent

_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_MYSQL_GTID = re.compile(r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}):(\d+)$")


@dataclass(frozen=True)
class CommitMark:
    """A place in one stream of commits (``lsn``, ``gtid:<domain>``, ``gtid:<server uuid>``)."""

    stream: str
    at: int


def end_mark(event: TransactionEvent) -> CommitMark | None:
    """Where the transaction an END closes committed; None when its id says nothing comparable."""
    head, sep, tail = event.id.partition(":")
    if sep and head.isdigit() and tail.isdigit():
        return CommitMark("lsn", int(tail))
    return _gtid(event.id)


def change_floor(event: ChangeEvent) -> CommitMark | None:
    """The mark every transaction at or below which committed before ``event``'s own; None when unknown."""
    source = event.source
    if source.lsn is not None:
        try:
            last_commit = orjson.loads(source.sequence or "null")[0]
        except (orjson.JSONDecodeError, TypeError, IndexError, KeyError):
            return None
        return CommitMark("lsn", int(last_commit)) if str(last_commit or "").isdigit() else None
    mark = _gtid(source.gtid or "")
    return None if mark is None else CommitMark(mark.stream, mark.at - 1)


def committed_before(end: CommitMark | None, floor: CommitMark | None) -> bool:
    """Whether the transaction at ``end`` committed before the change whose floor is ``floor``."""
    return end is not None and floor is not None and end.stream == floor.stream and end.at <= floor.at


def _gtid(text: str) -> CommitMark | None:
    if match := _MARIADB_GTID.match(text):
        return CommitMark(f"gtid:{match[1]}", int(match[3]))
    if match := _MYSQL_GTID.match(text):
        return CommitMark(f"gtid:{match[1].lower()}", int(match[2]))
    return None
