"""Request bodies over ``SIFTRAG_MAX_BODY_BYTES`` get a 413: at once from ``Content-Length``, or as soon as a
chunked body passes the limit while it is read (never after buffering it whole)."""
from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import get_settings


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while the route reads the body; FastAPI passes HTTPExceptions through."""


class BodyLimit:
    """Pure ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            too_large = JSONResponse({"detail": f"Body of {declared} bytes exceeds the limit of {limit} bytes."},
                                     status_code=413)
            await too_large(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(413, f"Body exceeds the limit of {limit} bytes.")
            return message

        await self.app(scope, counting_receive, send)
