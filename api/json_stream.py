"""Large JSON responses encoded piece by piece: ``json.dumps`` of a whole 40 MB body holds the GIL for most of a
second (the event loop, and so ``/healthz``, waits); one list element at a time holds it for milliseconds."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_pieces(payload: dict[str, Any], list_key: str) -> Iterator[bytes]:
    """``payload`` as JSON, the list under ``list_key`` one element per piece (the same bytes as one dump)."""
    head = {k: v for k, v in payload.items() if k != list_key}
    yield (_dumps(head)[:-1] + ("," if head else "") + _dumps(list_key) + ":[").encode()
    for index, item in enumerate(payload[list_key]):
        yield (("," if index else "") + _dumps(item)).encode()
    yield b"]}"


def json_response(payload: dict[str, Any], list_key: str, pieces_above: int) -> Response:
    """A plain JSONResponse for small payloads; a streamed one when ``payload[list_key]`` holds more than
    ``pieces_above`` items in all (counted one level down, e.g. documents of all queries)."""
    items = payload[list_key]
    size = sum(len(item.get("documents", ())) if isinstance(item, dict) else 1 for item in items)
    if size <= pieces_above:
        return JSONResponse(payload)
    return StreamingResponse(json_pieces(payload, list_key), media_type="application/json")
