"""The FastAPI application: routers, error mapping (never a stack trace), and the middleware stack (outermost
first): observation and load shedding, trusted hosts, cross-site refusal, body limit."""
from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match

import core  # noqa: F401  (offline defaults)
from api.body_limit import BodyLimit
from api.compat_errors import compat_error_body
from api.cross_site_guard import CrossSiteGuard
from api.observe import ObserveAndShed
from api.openapi_limits import add_limits
from api.rerank_body import SHAPE_TAGS
from api.routers import (
    answer,
    collections,
    compat_rerank,
    health,
    jobs,
    openai_chat,
    playground,
    search,
    sources,
)
from api.schemas import ERROR_RESPONSES
from api.server_paths import without_server_paths
from core.errors import SiftragError
from core.settings import get_settings
from workers.runner import EmbeddedRunner, job_runner

log = logging.getLogger("siftrag.api")


def _field_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if p != "body"]
        if loc and loc[0] in SHAPE_TAGS:  # the shape a /v1/rerank body was read as, not a field
            loc = loc[1:]
        location = ".".join(str(p) for p in loc) or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _error_body(request: Request, message: Any, status: int) -> dict[str, Any]:
    """Our ``{"detail": …}``, or the error shape of the compatible API whose route was called; no server paths."""
    if isinstance(message, str):
        message = without_server_paths(message)
    return ((compat_error_body(request.url.path, message, status) if isinstance(message, str) else None)
            or {"detail": message})


def _endpoint_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every endpoint route, also those inside included routers (FastAPI ≥ 0.16x keeps those nested)."""
    for route in routes:
        nested = getattr(route, "effective_candidates", None)
        yield from _endpoint_routes(nested()) if callable(nested) else (route,)


_PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of every route whose path matches the request's (a 405's ``Allow``); where templates of several
    resources match (``/collections/x:tune`` fits ``/collections/{name}`` too), those of the most specific one (the
    most literal characters): a collection name never holds a colon."""
    methods: dict[int, set[str]] = {}
    for route in _endpoint_routes(app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            literal = len(_PATH_PARAMETER.sub("", getattr(route, "path", "")))
            methods.setdefault(literal, set()).update(getattr(route, "methods", None) or ())
    return sorted(methods[max(methods)]) if methods else []


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
    async def siftrag_error(request: Request, error: SiftragError) -> JSONResponse:
        return JSONResponse(_error_body(request, str(error), error.http_status), status_code=error.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(_error_body(request, _field_message(error.errors()), 422), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:  # Allow lists the methods of every route on this path, not only the first
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return JSONResponse(_error_body(request, error.detail, error.status_code), status_code=error.status_code,
                            headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": f"Internal error ({type(error).__name__})."}, status_code=500)

    def openapi_with_limits() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_limits(get_openapi(title=app.title, version=app.version, routes=app.routes,
                                                        description=app.description), get_settings())
        return app.openapi_schema

    app.openapi = openapi_with_limits
    for router in (search.router, answer.router, health.router, collections.router, jobs.router,  # the hot
                   compat_rerank.router, openai_chat.router, playground.router,  # routes first: matched in order
                   sources.router):
        app.include_router(router)
    app.add_middleware(BodyLimit)
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=get_settings().allowed_hosts)
    app.add_middleware(ObserveAndShed)  # added last = outermost: sees (and ids) every response
    return app


app = create_app()
