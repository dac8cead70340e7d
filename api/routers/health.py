"""Liveness, readiness and metrics."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.metrics import render
from core.settings import get_settings
from indexes.retriever import collection_manager

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz() -> Response:
    """Ready when Redis answers (if configured) and every live index of every collection loads."""
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
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)
