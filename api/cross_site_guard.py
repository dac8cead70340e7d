"""Refuse what a web page in a browser could send to this server on a user's behalf (CSRF, incl. to loopback).

On state-changing methods: a ``Sec-Fetch-Site`` other than ``same-origin``/``none`` (user-initiated) or an
``Origin`` other than the server's own (or one listed in ``SIFTRAG_ALLOWED_ORIGINS``) is a 403; a body that is
not JSON/JSONL is a 415, so no "simple" cross-site form or ``text/plain`` post reaches a route, and a JSON post
from another origin needs a CORS preflight that this server never grants. The one exception, ``multipart/form-data``
to the file-upload route, is a type a cross-site form can send too: it needs positive proof of its origin, an own
``Origin`` or a ``Sec-Fetch-Site`` of ``same-origin``/``none`` (headers a page cannot forge), or an ``X-API-Key``
header (a custom header: a page could only send it after a preflight); otherwise a 403. Hosts are checked before
this, by Starlette's ``TrustedHostMiddleware`` (DNS rebinding).
"""
from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limit import FILES_PATH
from core.settings import get_settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
JSON_TYPES = {"application/json", "application/x-ndjson", "application/ndjson", "application/jsonl",
              "application/x-jsonlines"}
TRUSTED_FETCH_SITES = {"same-origin", "none"}
MULTIPART = "multipart/form-data"


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json_type(content_type: str) -> bool:
    media = media_type(content_type)
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def refusal(scope: Scope) -> tuple[int, str] | None:
    """(status, sentence) when the request must be refused, else None."""
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in TRUSTED_FETCH_SITES:
        return 403, f"Cross-site requests are refused (Sec-Fetch-Site: {site})."
    origin = headers.get("origin")
    if origin is not None:
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        if origin != own and origin not in get_settings().allowed_origins:
            return 403, f"Requests from origin '{origin[:200]}' are refused: add it to SIFTRAG_ALLOWED_ORIGINS."
    content_type = headers.get("content-type")
    if media_type(content_type or "") == MULTIPART and FILES_PATH.fullmatch(scope.get("path", "")):
        if site is None and origin is None and headers.get("x-api-key") is None:
            return 403, ("A file upload must show it comes from this server's own page or a client: send an "
                         "Origin of this server, Sec-Fetch-Site: same-origin, or an X-API-Key header.")
        return None
    has_body = headers.get("transfer-encoding") is not None or int(headers.get("content-length") or 0) > 0
    if (content_type is not None or has_body) and not is_json_type(content_type or ""):
        return 415, (f"Request bodies must be JSON (Content-Type: application/json, or application/x-ndjson for "
                     f"document uploads), not '{(content_type or 'none')[:100]}'.")
    return None


class CrossSiteGuard:
    """Pure ASGI middleware applying ``refusal`` to state-changing requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            try:
                refused = refusal(scope)
            except ValueError:
                refused = 400, "The Content-Length header is not a number."
            if refused is not None:
                await JSONResponse({"detail": refused[1]}, status_code=refused[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)
