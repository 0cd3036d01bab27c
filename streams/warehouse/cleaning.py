"""Cleaning rules: each takes a decoded source value and returns the warehouse value or raises RowRejected.

:data:`CLEANERS` names them for ``warehouse/tables.yaml`` (``clean: email``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
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
    """A phone number as both systems take it, normalised: E.164 (``+`` and digits) when it has a country code,
    else its digits; an extension kept as ``;ext=<digits>`` (RFC 3966).

    Accepted: any Unicode decimal digits (Arabic-Indic, full-width, ...: read as 0-9), full-width plus (U+FF0B), any
    space or dash, ``()./``, a ``tel:`` prefix, ``00`` for ``+``, the national ``(0)`` after a country code
    (``+49 (0)30 ...``: dropped, as E.164 has no trunk prefix) and an extension (``ext. 12``, ``x12``, ``#12``,
    ``;ext=12``). Rejected: letters, a ``+`` that does not lead, fewer than 5 digits, more than 15 after ``+``.
    """
    cleaned = text(value, column)
    if cleaned is None:
        return None
    number, extension = _split_extension(_ascii_digits(cleaned))
    if number.lower().startswith("tel:"):
        number = number[4:].strip()
    if not _PHONE_ALLOWED.match(number):
        raise RowRejected(f"{column} {cleaned!r} is not a phone number (digits, spaces, ()-./, a leading + or 00, "
                          "an extension)")
    international = number.startswith("+") or number.startswith("00")
    if international:
        number = re.sub(r"^(\+|00)\s*(\d{1,3})[\s.\-/]*\(0\)", r"+\2", number)  # +49 (0)30: no trunk 0
    digits = re.sub(r"[^0-9]", "", number)
    if number.startswith("00"):
        digits = digits[2:]
    if len(digits) < 5:
        raise RowRejected(f"{column} {cleaned!r} has fewer than 5 digits")
    if international and len(digits) > 15:
        raise RowRejected(f"{column} {cleaned!r} has more than 15 digits after its country code (E.164)")
    return ("+" if international else "") + digits + (f";ext={extension}" if extension else "")


#: The separators a phone number may have besides ASCII ones: every Unicode dash and space is folded to them.
_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_EXTENSION = re.compile(r"^(?P<number>.*?)\s*(?:;\s*ext=|\b(?:ext|extension)\.?|x|#)\s*(?P<ext>[0-9]{1,6})$",
                        re.IGNORECASE)


def _ascii_digits(raw: str) -> str:
    """``raw`` with every decimal digit as 0-9, full-width plus (U+FF0B) as ``+``, Unicode dashes as ``-`` and spaces as
    `` ``; other characters are kept, so the pattern check still sees letters."""
    out = []
    for char in raw:
        if char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        elif char in "\uff0b\u207a\u208a":
            out.append("+")
        elif char.isspace():
            out.append(" ")
        elif char in "\uff08\uff09":
            out.append("(" if char == "\uff08" else ")")
        else:
            out.append(char)
    return _DASHES.sub("-", "".join(out))


def _split_extension(number: str) -> tuple[str, str]:
    found = _EXTENSION.match(number)
    if found is None:
        return number, ""
    return found["number"], found["ext"]


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
        """The cleaned value; a rejection names this rule (``rule `clean: phone```), so a dead letter says which
        rule of ``warehouse/tables.yaml`` refused the row."""
        try:
            if self.required is None:
                return self.function(value, column)
            return self.function(value, column, required=self.required if required is None else required)
        except RowRejected as exc:
            raise RowRejected(f"{exc} (rule `clean: {self.name}`)", rule=self.name) from exc


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
