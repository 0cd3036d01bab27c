"""Signup, a made-up SaaS API of a user's own that creates asynchronously, as many do: ``POST /api/users``
answers ``202 Accepted`` with ``{"job_id": "j_1", "status": "queued"}`` and ``Location: /api/jobs/j_1``, and the user
exists only once ``GET /api/jobs/j_1`` answers ``{"status": "done", "result": {"id": "u_1", ...}}`` (or ``{"status":
"failed", "error": "email taken"}``); with the target file routes that declare its jobs (``job``). Served for real
(``reference.common.server.ThreadedServer``) by test_sink_http_jobs.py and test_sink_http_jobs_integration.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reference.common.server import ThreadedServer

CREATE = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /users
    body: {email: email, name: name}
    ids: {account_id: id}
    job:
{job}
"""
BY_PATH = """\
      path: /jobs/{job_id}
      done: {path: status, one_of: [done, completed]}
      failed: {path: status, one_of: [failed, error], message: error}
      result: result
      poll_s: 0.01
      timeout_s: 5
"""
BY_LOCATION = """\
      location: true
      done: {path: status, one_of: [done]}
      failed: {path: status, one_of: [failed], message: error}
      result: result
      poll_s: 0.01
"""
#: The update right after the create: "search by e-mail, then update, or create when none" (the route an API
#: without idempotency keys takes), whose create is a job too.
UPDATE = """\
  - payload_type: Account
    operation: update
    method: POST
    path: /users
    body: {email: email, name: name}
    ids: {account_id: $id}
    external_id:
      field: email
      search: {path: "/users?email={email}", found_id: "items.*.id", match: email}
      update: {method: PATCH, path: "/users/{$id}", body: {name: name}}
      created_id: id
    job:
{job}
"""


@dataclass
class Signup:
    """The API's users and jobs, what it was sent, and how its jobs behave: ``running``: polls a job answers
    "running" before it ends; ``ends``: done, failed or never; ``unavailable``: polls answered 503 (Retry-After: 0)
    first; ``lost``: polls answered 404; ``location``: the Location header to answer (default: the job's own);
    ``fails``: the e-mails whose jobs fail (taken)."""

    running: int = 2
    ends: str = "done"
    unavailable: int = 0
    lost: bool = False
    location: str | None = None
    fails: set[str] = field(default_factory=set)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> list[str]:
        return [s for s in self.seen if s.startswith("POST")]

    def polls(self) -> list[str]:
        return [s for s in self.seen if s.startswith("GET /api/jobs")]


def signup_app(api: Signup) -> FastAPI:
    """``POST /api/users`` (202 and a job; ``Idempotency-Key`` honoured: the same key answers the same job),
    ``GET /api/jobs/{id}``, ``GET /api/users?email=`` and ``PATCH /api/users/{id}``."""
    app = FastAPI(title="signup")

    @app.post("/api/users")
    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        with api.lock:
            api.seen.append("POST /api/users")
            if key is not None and key in api.keys:
                job = api.keys[key]
            else:
                job = {"id": f"j_{len(api.jobs) + 1}", "polls": 0, "user": None, "record": body}
                api.jobs[job["id"]] = job
                if key is not None:
                    api.keys[key] = job
        location = api.location or f"/api/jobs/{job['id']}"
        return JSONResponse({"job_id": job["id"], "status": "queued"}, status_code=202, headers={"Location": location})

    @app.get("/api/jobs/{job_id}")
    async def poll(job_id: str) -> JSONResponse:
        with api.lock:
            api.seen.append(f"GET /api/jobs/{job_id}")
            if api.unavailable:
                api.unavailable -= 1
                return JSONResponse({"error": "busy"}, status_code=503, headers={"Retry-After": "0"})
            job = api.jobs.get(job_id)
            if job is None or api.lost:
                return JSONResponse({"error": "no such job"}, status_code=404)
            job["polls"] += 1
            if api.ends == "never" or job["polls"] <= api.running:
                return JSONResponse({"job_id": job_id, "status": "running"})
            if api.ends == "failed" or job["record"].get("email") in api.fails:
                return JSONResponse({"job_id": job_id, "status": "failed", "error": "email taken"})
            if job["user"] is None:
                job["user"] = f"u_{len(api.users) + 1}"
                api.users[job["user"]] = {"id": job["user"], **job["record"]}
            return JSONResponse({"job_id": job_id, "status": "done", "result": api.users[job["user"]]})

    @app.get("/api/users")
    async def search(email: str) -> JSONResponse:
        with api.lock:
            api.seen.append("GET /api/users")
            return JSONResponse({"items": [u for u in api.users.values() if u["email"] == email]})

    @app.patch("/api/users/{user_id}")
    async def update(user_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        with api.lock:
            api.seen.append(f"PATCH /api/users/{user_id}")
            api.users[user_id].update(body)
            return JSONResponse(api.users[user_id])

    return app


@contextmanager
def signup() -> Iterator[Signup]:
    """The Signup API on a free loopback port (its ``url``; its own paths under ``/api``)."""
    api = Signup()
    with ThreadedServer(signup_app(api)) as server:
        api.url = server.url
        yield api
