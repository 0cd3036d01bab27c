"""Optimistic concurrency: ``ETag`` on every answer, ``If-Match`` (or a ``version`` field) on writes.

A resource with a ``version`` column has ``ETag: "<version>"``. The ERP's products, warehouses, invoices,
payments and shipments have no version column in the ERP's schema, so theirs is a hash of their content;
``If-Match`` works the same way against either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from reference.common.errors import ApiError


def etag_value(body: Any) -> str | None:
    """The unquoted entity tag of an answer body, or None for a body that is not one resource."""
    if not isinstance(body, dict) or "items" in body:
        return None
    if isinstance(body.get("version"), int):
        return str(body["version"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_if_match(header: str | None) -> tuple[str, ...] | None:
    """``"3"``, ``W/"3"``, ``3``, ``"3", "4"`` or ``*`` -> the tags without quotes; None without a header."""
    if header is None:
        return None
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if not tag or '"' in tag:
            raise ApiError(400, f"If-Match {header!r} is not a list of entity tags", field="If-Match",
                           fix='send the ETag of your last read, e.g. If-Match: "3"')
        tags.append(tag)
    return tuple(tags)


@dataclass(frozen=True, kw_only=True)
class Precondition:
    """What a write expects the resource to be: the ``If-Match`` tags and/or the body's ``version``."""

    if_match: tuple[str, ...] | None = None
    version: int | None = None

    def check(self, what: str, current: Any) -> None:
        """Refuse with 412 unless ``current`` (the resource as it stands) is what the writer expects."""
        tag = etag_value(current)
        current_version = current.get("version") if isinstance(current, dict) else None
        if self.if_match is not None and "*" not in self.if_match and tag not in self.if_match:
            sent = ", ".join(f'"{t}"' for t in self.if_match)
            raise ApiError(412, f"If-Match {sent} does not match the {what}, which is "
                           f"now at ETag \"{tag}\"", field="If-Match",
                           fix=f"read the {what} again, re-apply your change and send If-Match: \"{tag}\"",
                           current_version=current_version, current_etag=tag, headers={"ETag": f'"{tag}"'})
        if self.version is not None and self.version != current_version:
            raise ApiError(412, f"version {self.version} is stale: the {what} is now at version "
                           f"{current_version}", field="version",
                           fix=f"read the {what} again, re-apply your change and send version "
                               f"{current_version}",
                           current_version=current_version, current_etag=tag, headers={"ETag": f'"{tag}"'})

    def check_absent(self, what: str) -> None:
        """A write that would create the resource: only ``If-Match: *`` would have needed it to exist."""
        if self.if_match is not None or self.version is not None:
            raise ApiError(412, f"the {what} does not exist, but the request expects a current version",
                           field="If-Match" if self.if_match is not None else "version",
                           fix=f"drop If-Match and version to create the {what}")
