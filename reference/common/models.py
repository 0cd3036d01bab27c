"""Bases of both APIs' bodies: requests refuse unknown fields; lists come in pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: Annotated[str | None, Field(description="`after` for the next page; null on the last")] = None


def page_cut(rows: list[dict[str, Any]], limit: int, key: str) -> tuple[list[dict[str, Any]], str | None]:
    """Rows fetched with ``LIMIT limit + 1``: the page and, if there is more, the cursor for the next."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1][key])
    return rows, None
