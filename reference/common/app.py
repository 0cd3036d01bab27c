"""The frame both apps share: error shapes, the fault switch, ``/health`` and the transactions they use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.responses import Response

from reference.common import errors, faults
from reference.common.envelope import EnvelopeMiddleware
from reference.common.transactions import Transactions


def new_app(*, title: str, description: str, transactions: Transactions[Any],
            ping: Callable[[Any], None]) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0")
    app.state.transactions = transactions
    app.state.faults = faults.FaultSwitch()
    errors.install(app)
    app.add_middleware(faults.FaultMiddleware, switch=app.state.faults)
    # Outermost: /enveloped/<path> is <path> answered with HTTP 200 and {"result", "error"} (see envelope.py).
    app.add_middleware(EnvelopeMiddleware)
    app.include_router(faults.router)

    @app.get("/health", tags=["health"], summary="200 when the database answers, 503 when it does not")
    def health() -> Response:
        try:
            transactions.read(ping)
        except Exception as exc:  # any failure to reach the database is an unhealthy answer, not a crash
            return JSONResponse({"status": "unavailable", "error": str(exc) or type(exc).__name__,
                                 "field": "database", "fix": "check that the database is running"},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    return app
