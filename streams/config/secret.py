"""A secret value of the runtime (an API token, a database password): hidden wherever it is printed.

The settings model holds its secrets as pydantic's ``SecretStr``; what the runtime derives from them at run
time (an auth header, a password read from a secrets file) is a :class:`Secret`. Both print as ``***``.
"""

from __future__ import annotations


class Secret:
    """A string that hides itself in ``str``, ``repr`` and f-strings; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
