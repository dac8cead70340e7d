"""Error bodies of the compatible APIs: a compatible route answers errors in the shape its clients parse."""
from __future__ import annotations

from typing import Any

COHERE_PATH, TEI_PATH, OPENAI_CHAT_PATH = "/v2/rerank", "/rerank", "/v1/chat/completions"


def compat_error_body(path: str, message: str, status: int = 422) -> dict[str, Any] | None:
    """The error body of the API whose route ``path`` is (Cohere: ``message``; TEI: ``error`` and ``error_type``,
    ``Validation`` for the client's errors, ``Backend`` for the server's (a deadline's 504); OpenAI:
    ``error.message``), or None for our own routes."""
    if path == COHERE_PATH:
        return {"message": message}
    if path == TEI_PATH:
        return {"error": message, "error_type": "Validation" if status < 500 else "Backend"}
    if path == OPENAI_CHAT_PATH:
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return None
