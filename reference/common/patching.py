"""PATCH bodies: only the fields a client sent are changed; ``null`` clears a field that may be empty."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from reference.common.errors import ApiError


def changes(patch: BaseModel, *, not_null: Iterable[str] = (),
            ignore: Iterable[str] = ("version",)) -> dict[str, Any]:
    """The fields ``patch`` sets, as column -> value; refuses null for a required field and an empty patch."""
    skipped = set(ignore)
    required = set(not_null)
    values = {name: getattr(patch, name) for name in patch.model_fields_set if name not in skipped}
    for name, value in values.items():
        if value is None and name in required:
            raise ApiError(422, f"{name} cannot be null", field=name,
                           fix=f"send a value for {name}, or leave it out")
    if not values:
        raise ApiError(422, "the patch changes nothing", field="body",
                       fix="send at least one field to change (see /openapi.json)")
    return values
