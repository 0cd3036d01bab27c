"""``CHECK (col IN (...))`` constraints read as the values a column allows, as each engine prints them back:

- PostgreSQL (``pg_get_constraintdef``): ``CHECK ((kind = ANY (ARRAY['billing'::text, 'shipping'::text])))``,
  or for a VARCHAR ``CHECK (((kind)::text = ANY ((ARRAY['a'::character varying, ...])::text[])))``;
- MariaDB and MySQL (``information_schema.check_constraints``): ``` `kind` in ('billing','shipping') ```.

Any other check (a range, a pattern, several columns) allows no fixed list and is ignored.
"""

from __future__ import annotations

import re

_LITERAL = r"'(?:[^']|'')*'(?:::[\w ]+(?:\[\])?)?"
_LIST = rf"{_LITERAL}(?:\s*,\s*{_LITERAL})*"
_POSTGRES = re.compile(
    rf"^CHECK\s*\(*\s*\(?\"?(?P<column>\w+)\"?\)?(?:::[\w ]+)?\s*=\s*ANY\s*\(\(?ARRAY\[(?P<values>{_LIST})\]\)?"
    rf"(?:::[\w ]+\[\])?\)\s*\)*$", re.IGNORECASE)
_MYSQL = re.compile(rf"^\(*\s*`?(?P<column>\w+)`?\s+IN\s*\((?P<values>{_LIST})\)\s*\)*$", re.IGNORECASE)
_VALUE = re.compile(r"'((?:[^']|'')*)'")


def postgres_in_list(definition: str) -> tuple[str, tuple[str, ...]] | None:
    """(column, allowed values) of a PostgreSQL check definition that is one IN list, else None."""
    return _in_list(_POSTGRES, definition)


def mysql_in_list(clause: str) -> tuple[str, tuple[str, ...]] | None:
    """(column, allowed values) of a MariaDB/MySQL check clause that is one IN list, else None."""
    return _in_list(_MYSQL, clause)


def _in_list(pattern: re.Pattern[str], text: str) -> tuple[str, tuple[str, ...]] | None:
    match = pattern.match(" ".join(text.split()))
    if match is None:
        return None
    return match["column"], tuple(v.replace("''", "'") for v in _VALUE.findall(match["values"]))


def enum_values(column_type: str) -> tuple[str, ...]:
    """The values of a MariaDB/MySQL ``enum('a','b''c')`` column type (or the members of a ``set(...)``), in declared
    order."""
    inner = column_type[column_type.index("(") + 1:column_type.rindex(")")]
    return tuple(v.replace("''", "'") for v in _VALUE.findall(inner))
