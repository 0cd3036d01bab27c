"""A made-up till system for the mapping checks' tests: ``kasse``, its table ``zahlungen`` (payments), and the
head of a Payment mapping from it that each test finishes with the fields it varies. Its column names say nothing
to the checker: only their types count."""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from streams.catalog.model import Catalog, Column, Table
from streams.mapping.loader import Tables, default_tables

#: A Payment from the till, up to its ``paid_at``; the next field a test adds is on line 14.
PAYMENT_HEAD = """\
target: isthmus.canonical.Payment
key: payment_id
owner: kasse
policy: owner_wins
sources:
  kasse_zahlungen:
    system: kasse
    table: zahlungen
    fields:
      payment_id: id
      invoice_id: beleg
      erp_account_id: konto
      paid_at: gezahlt_am
"""
#: The line of the first field a test adds after :data:`PAYMENT_HEAD`.
FIRST_ADDED_LINE = 14


def till_tables(columns: Iterable[Column], engine: str) -> Tables:
    """The reference systems' tables, and the till's ``zahlungen`` of ``columns`` (keyed by ``id``) on ``engine``."""
    table = Table(name="zahlungen", columns=MappingProxyType({c.name: c for c in columns}), primary_key=("id",))
    return {**default_tables(), "kasse": Catalog(system="kasse", engine=engine, namespace="kasse",
                                                 tables=MappingProxyType({"zahlungen": table}))}
