"""Cleaning rules: each takes a decoded source value and returns the warehouse value or raises RowRejected.

:data:`CLEANERS` names them for ``warehouse/tables.yaml`` (``clean: email``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.warehouse.exceptions import RowRejected

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_ALLOWED = re.compile(r"^\+?[0-9 ().\-/]+$")


def text(value: Any, column: str, *, required: bool = False) -> str | None:
    """Trimmed text; empty becomes NULL, or a rejection when the column is required."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowRejected(f"{column} is empty; the warehouse needs it")
        return None
    if not isinstance(value, str):
        raise RowRejected(f"{column} is {type(value).__name__} {value!r}, not text")
    return value.strip()


def email(value: Any, column: str) -> str | None:
    """Trimmed, lower-cased e-mail address; one that is not ``local@domain.tld`` is rejected."""
    cleaned = text(value, column)
    if cleaned is None:
        return None
    cleaned = cleaned.lower()
    if not _EMAIL.match(cleaned):
        raise RowRejected(f"{column} {cleaned!r} is not an e-mail address (local@domain.tld)")
    return cleaned


def phone(value: Any, column: str) -> str | None:
    """Digits only, with a leading ``+`` kept; letters or fewer than 5 digits are rejected."""
    cleaned = text(value, column)
    if cleaned is None:
        return None
    if not _PHONE_ALLOWED.match(cleaned):
        raise RowRejected(f"{column} {cleaned!r} is not a phone number (digits, spaces, ()-./ and a leading +)")
    digits = re.sub(r"[^0-9]", "", cleaned)
    if len(digits) < 5:
        raise RowRejected(f"{column} {cleaned!r} has fewer than 5 digits")
    return ("+" if cleaned.startswith("+") else "") + digits


def number(value: Any, column: str, *, required: bool = True) -> Decimal | None:
    """An exact decimal (money, quantities); floats are refused since they would not sum exactly."""
    if value is None:
        if required:
            raise RowRejected(f"{column} is missing; the warehouse needs it")
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise RowRejected(f"{column} is {type(value).__name__} {value!r}, not an exact decimal")
    return Decimal(value)


def integer(value: Any, column: str, *, required: bool = True) -> int | None:
    if value is None:
        if required:
            raise RowRejected(f"{column} is missing; the warehouse needs it")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowRejected(f"{column} is {type(value).__name__} {value!r}, not a whole number")
    return value


def boolean(value: Any, column: str) -> bool | None:
    """MariaDB BOOLEAN arrives as a small integer, PostgreSQL's as a boolean."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RowRejected(f"{column} is {value!r}, not a boolean")


def date(value: Any, column: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise RowRejected(f"{column} is {value!r}, not a date")


def instant(value: Any, column: str) -> dt.datetime:
    """A zoned source time (TIMESTAMPTZ), already an instant: returned in UTC."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise RowRejected(f"{column} is {value!r}, not a time with a zone")
    return value.astimezone(dt.UTC)


def date_key(moment: dt.datetime) -> int:
    """The dim_date key (YYYYMMDD) of an instant's UTC date."""
    day = moment.astimezone(dt.UTC).date()
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True, kw_only=True)
class Cleaner:
    """A cleaning rule by the name ``warehouse/tables.yaml`` uses for it (``clean: <name>``).

    ``required`` is the rule's default when it takes a ``required`` argument (text is optional unless told,
    numbers are required unless told), ``None`` when it takes none.
    """

    name: str
    function: Callable[..., Any]
    required: bool | None = None

    def __call__(self, value: Any, column: str, required: bool | None) -> Any:
        if self.required is None:
            return self.function(value, column)
        return self.function(value, column, required=self.required if required is None else required)


CLEANERS: Mapping[str, Cleaner] = {cleaner.name: cleaner for cleaner in (
    Cleaner(name="text", function=text, required=False),
    Cleaner(name="email", function=email),
    Cleaner(name="phone", function=phone),
    Cleaner(name="number", function=number, required=True),
    Cleaner(name="integer", function=integer, required=True),
    Cleaner(name="boolean", function=boolean),
    Cleaner(name="date", function=date),
    Cleaner(name="instant", function=instant),
)}
