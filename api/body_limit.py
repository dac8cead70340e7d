"""Request bodies over the limit get a 413: at once from ``Content-Length``, or as soon as a chunked body passes
the limit while it is read (never after buffering it whole).

The limit (``SIFTRAG_MAX_BODY_BYTES``) defaults to the largest body the other limits let through: the most text
one request may carry (``max_rerank_chars``, or a batch of ``max_batch_queries`` × ``max_query_chars``) at
6 bytes a character (``\\uXXXX``, the longest JSON spelling of a character of the Basic Multilingual Plane), plus
1 MiB for ids, meta and the rest: 13 MB. A document upload has its own, larger limit
(``SIFTRAG_MAX_INGEST_BODY_BYTES``), and so has a file upload (``SIFTRAG_MAX_FILES_BODY_BYTES``)."""
from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings, get_settings

JSON_BYTES_PER_CHAR = 6
ENVELOPE_BYTES = 2**20
UPLOAD_PATH = re.compile(r"/v1/collections/[^/]+/documents")
FILES_PATH = re.compile(r"/v1/collections/[^/]+/files")  # multipart file uploads (api/cross_site_guard.py too)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while the route reads the body; FastAPI passes HTTPExceptions through."""


def default_body_limit(settings: Settings) -> int:
    """The largest body the request limits allow (bytes)."""
    text = max(settings.max_rerank_chars, settings.max_batch_queries * settings.max_query_chars)
    return JSON_BYTES_PER_CHAR * text + ENVELOPE_BYTES


def body_limit(scope: Scope) -> int:
    """The limit of this request's body: a document upload's, a file upload's, or every other request's."""
    settings = get_settings()
    if scope["method"] == "POST" and UPLOAD_PATH.fullmatch(scope["path"]):
        return settings.max_ingest_body_bytes
    if scope["method"] == "POST" and FILES_PATH.fullmatch(scope["path"]):
        return settings.max_files_body_bytes
    return settings.max_body_bytes or default_body_limit(settings)


class BodyLimit:
    """Pure ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
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
