"""Liveness, readiness and metrics."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import Caller, CallerDep
from api.metrics import METRICS_CONTENT_TYPE, render
from core.settings import Settings, get_settings
from indexes.retriever import collection_manager

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, answered on the event loop itself (no thread hand-off): slow only if the loop is blocked."""
    return {"status": "ok"}


def _operator(who: Caller) -> bool:
    """Whether this caller may see collection names and counts (admin, or SIFTRAG_PUBLIC_METRICS)."""
    return get_settings().public_metrics or who.is_admin


@router.get("/readyz")
async def readyz(who: CallerDep) -> Response:
    """Ready when Redis, PostgreSQL and Milvus answer (those configured) and every live index of every collection
    loads. The checks
    (collection names) are shown to admins, or to everyone with SIFTRAG_PUBLIC_METRICS; the status code always."""
    ready, checks = await run_in_threadpool(_readiness)
    body = {"ready": ready, "checks": checks} if _operator(who) else {"ready": ready}
    return JSONResponse(body, status_code=200 if ready else 503)


def _readiness() -> tuple[bool, dict[str, Any]]:
    settings = get_settings()
    checks: dict[str, Any] = {}
    ready = True
    if settings.redis_url:
        import redis

        try:
            checks["redis"] = bool(redis.Redis.from_url(settings.redis_url, socket_timeout=1).ping())
        except redis.RedisError as error:
            checks["redis"] = f"unreachable: {error}"
            ready = False
    for service, check in _shared_services(settings).items():
        try:
            check()
            checks[service] = True
        except Exception as error:  # any failure of a shared service means not ready, with its sentence
            checks[service] = f"unreachable: {error}"
            ready = False
    if not ready:
        return ready, checks
    manager = collection_manager()
    loaded = {}
    for name in manager.names():
        collection = manager.get(name)
        for kind, info in collection.status()["indexes"].items():
            if info["live_version"]:
                try:
                    loaded[f"{name}/{kind}"] = collection.loaded(kind)[0]
                except Exception as error:  # a corrupt version must show up here, not crash the probe
                    loaded[f"{name}/{kind}"] = f"failed: {error}"
                    ready = False
    checks["indexes"] = loaded
    return ready, checks


def _shared_services(settings: Settings) -> dict[str, Callable[[], Any]]:
    """A check per configured shared service (each raises when the service does not answer)."""
    checks: dict[str, Callable[[], Any]] = {}
    if settings.database_url:
        from core.postgres import connection_pool

        def postgres() -> None:
            with connection_pool(settings.database_url or "").connection(timeout=2) as connection:
                connection.execute("SELECT 1")

        checks["postgres"] = postgres
    if settings.index_backend == "milvus":
        from indexes.milvus_connection import milvus_client

        checks["milvus"] = lambda: milvus_client().list_aliases()
    return checks


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus exposition text", "content": {METRICS_CONTENT_TYPE: {"schema": {"type": "string"}}}}})
def metrics(who: CallerDep) -> Response:
    """Prometheus exposition: an admin key is needed unless SIFTRAG_PUBLIC_METRICS is set."""
    if not get_settings().public_metrics:
        who.require("admin")
    return Response(render(), media_type=METRICS_CONTENT_TYPE)
