"""The FastAPI application: routers, error mapping (never a stack trace), metrics, load shedding."""
from __future__ import annotations

import logging
import threading
import time

import core  # noqa: F401  (offline defaults)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.metrics import REQUEST_SECONDS
from api.routers import collections, health, jobs, search
from core.errors import SiftragError

log = logging.getLogger("siftrag.api")
MAX_IN_FLIGHT = 256


def _field_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app() -> FastAPI:
    app = FastAPI(title="siftrag", version="0.1.0",
                  description="Retrieval, reranking and retrieval-augmented generation.")
    in_flight = {"count": 0}
    lock = threading.Lock()

    @app.middleware("http")
    async def observe(request: Request, call_next):
        with lock:
            if in_flight["count"] >= MAX_IN_FLIGHT:
                return JSONResponse({"detail": "Server busy, retry shortly."}, status_code=503,
                                    headers={"Retry-After": "1"})
            in_flight["count"] += 1
        began = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            with lock:
                in_flight["count"] -= 1
            route = request.scope.get("route")
            REQUEST_SECONDS.labels(request.method, getattr(route, "path", "unmatched"), str(status)).observe(
                time.perf_counter() - began)

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

    for router in (health.router, collections.router, search.router, jobs.router):
        app.include_router(router)
    return app


app = create_app()
