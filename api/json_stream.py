"""JSON response bodies written by pydantic-core's Rust encoder (about 3× the standard library's speed), and large
ones encoded piece by piece: encoding a whole 40 MB body at once holds the GIL long enough to stall the event loop
(and so ``/healthz``); one list element at a time holds it for milliseconds."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic_core import to_json
from starlette.responses import Response


def _dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities become null (JSON has no such numbers)."""
    return to_json(value, inf_nan_mode="null")


def json_pieces(payload: dict[str, Any], list_key: str) -> Iterator[bytes]:
    """``payload`` as JSON, the list under ``list_key`` one element per piece (the same bytes as one dump)."""
    head = {k: v for k, v in payload.items() if k != list_key}
    yield _dumps(head)[:-1] + (b"," if head else b"") + _dumps(list_key) + b":["
    for index, item in enumerate(payload[list_key]):
        yield (b"," if index else b"") + _dumps(item)
    yield b"]}"


def json_response(payload: dict[str, Any], list_key: str, pieces_above: int) -> Response:
    """One body for small payloads; a streamed one when ``payload[list_key]`` holds more than ``pieces_above``
    items in all (counted one level down, e.g. documents of all queries)."""
    items = payload[list_key]
    size = sum(len(item.get("documents", ())) if isinstance(item, dict) else 1 for item in items)
    if size <= pieces_above:
        return Response(_dumps(payload), media_type="application/json")
    return StreamingResponse(json_pieces(payload, list_key), media_type="application/json")
