"""The FastAPI application: routers, error mapping (never a stack trace), and the middleware stack (outermost
first): observation and load shedding, trusted hosts, cross-site refusal, body limit."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

import core  # noqa: F401  (offline defaults)
from api.body_limit import BodyLimit
from api.cross_site_guard import CrossSiteGuard
from api.observe import ObserveAndShed
from api.routers import answer, collections, health, jobs, search
from api.schemas import ERROR_RESPONSES
from core.errors import SiftragError
from core.settings import get_settings
from workers.runner import EmbeddedRunner, job_runner

log = logging.getLogger("siftrag.api")


def _field_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """On shutdown (SIGTERM), the embedded runner fails this process's unfinished jobs at once."""
    yield
    if job_runner.cache_info().currsize:
        runner = job_runner()
        if isinstance(runner, EmbeddedRunner):
            runner.shutdown()
            job_runner.cache_clear()  # a later app in this process (tests) gets a fresh runner


def create_app() -> FastAPI:
    app = FastAPI(title="siftrag", version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES,
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
    app.add_middleware(BodyLimit)
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=get_settings().allowed_hosts)
    app.add_middleware(ObserveAndShed)  # added last = outermost: sees (and ids) every response
    return app


app = create_app()
