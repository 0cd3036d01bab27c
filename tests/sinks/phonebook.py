"""A made-up contacts API of a new user's, for the sink's unit tests (httpx's MockTransport): its search
matches e-mails by substring, as many do, so a search answers near misses the sink must not take."""

from __future__ import annotations

import json
from typing import Any

import httpx


class FakePhonebook:
    """Contacts; ``GET /api/contacts?email=`` (substring) or ``?ref=`` (exact), three a page with a ``cursor``;
    ``POST /api/contacts`` creates, ``PATCH /api/contacts/{uid}`` sets the fields sent."""

    def __init__(self, contacts: list[dict[str, Any]]) -> None:
        self.contacts = contacts
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            params = request.url.params
            rows = [c for c in self.contacts if ("email" in params and params["email"] in c.get("email", ""))
                    or ("ref" in params and params["ref"] == c.get("ref"))]
            at = int(params.get("cursor", "0"))
            more = at + 3 < len(rows)
            return httpx.Response(200, json={"items": rows[at:at + 3], "cursor": str(at + 3) if more else None})
        body = json.loads(request.content)
        if request.method == "POST":
            self.contacts.append({"uid": f"ct_{len(self.contacts)}", **body})
            return httpx.Response(201, json={"contact": self.contacts[-1]})
        uid = request.url.path.rsplit("/", 1)[1]
        found = next(c for c in self.contacts if c["uid"] == uid)
        found.update(body)
        return httpx.Response(200, json={"contact": found})

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.method != "GET"]
