"""The FastAPI application: routers, error mapping (never a stack trace), metrics, load shedding."""
from __future__ import annotations

import logging
import time

import core  # noqa: F401  (offline defaults)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import REQUEST_SECONDS
from api.routers import answer, collections, health, jobs, search
from core.errors import SiftragError

log = logging.getLogger("siftrag.api")
MAX_IN_FLIGHT = 256


def _field_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


class ObserveAndShed:
    """Pure ASGI middleware: per-route latency histogram, and 503 + Retry-After when overloaded."""

    def __init__(self, app: ASGIApp, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            busy = JSONResponse({"detail": "Server busy, retry shortly."}, status_code=503, headers={"Retry-After": "1"})
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        began = time.perf_counter()
        status = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.in_flight -= 1
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status["code"])).observe(time.perf_counter() - began)


def create_app() -> FastAPI:
    app = FastAPI(title="siftrag", version="0.1.0",
                  description="Retrieval, reranking and retrieval-augmented generation.")
    @app.exception_handler(SiftragError)
    async def siftrag_error(_: Request, error: SiftragError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _field_message(error.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": f"Internal error ({type(error).__name__})."}, status_code=500)

    for router in (health.router, collections.router, search.router, answer.router, jobs.router):
        app.include_router(router)
    app.add_middleware(ObserveAndShed)
    return app


app = create_app()
