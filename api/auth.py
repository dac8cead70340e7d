"""API keys (``X-API-Key``). Admin routes always need one; query routes when ``protect_queries``.

With no keys configured (the embedded quick-start), admin routes answer loopback clients only.
"""
from __future__ import annotations

import secrets

from fastapi import Header, HTTPException, Request

from core.settings import get_settings

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def _key_ok(given: str | None) -> bool:
    return given is not None and any(secrets.compare_digest(given, key) for key in get_settings().api_keys)


def require_admin(request: Request, x_api_key: str | None = Header(default=None)) -> None:
    if get_settings().api_keys:
        if not _key_ok(x_api_key):
            raise HTTPException(401, "This admin route needs a valid X-API-Key header.")
    elif not request.client or request.client.host not in LOOPBACK:
        raise HTTPException(401, "No API keys are configured: admin routes accept loopback clients only.")


def require_query_access(x_api_key: str | None = Header(default=None)) -> None:
    settings = get_settings()
    if settings.protect_queries and not _key_ok(x_api_key):
        raise HTTPException(401, "This route needs a valid X-API-Key header.")
