"""JSON request bodies parsed without stalling the event loop: a large body on a worker thread, where the decoder
builds each object with a Python call, so the GIL passes to the event loop between objects (``json.loads`` alone
holds it for the whole body: 0.1 s per 20 MB). A body nested too deeply is a 422, never a 400."""
from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

THREAD_FROM_BYTES = 256 * 1024  # smaller bodies parse in under a millisecond: inline


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A Python-level ``object_pairs_hook``: the interpreter may switch threads at each call."""
    return dict(pairs)


def loads_yielding(text: bytes | str) -> Any:
    """``json.loads`` that lets other threads run between the objects it builds."""
    return json.loads(text, object_pairs_hook=_object)


class ThreadedJSONRequest(Request):
    """A request whose JSON body is parsed on a worker thread when it is large."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = (await run_in_threadpool(loads_yielding, body) if len(body) >= THREAD_FROM_BYTES
                              else json.loads(body))
            except RecursionError:
                raise HTTPException(422, "Body is nested too deeply.") from None
        return self._json


class ThreadedJSONRoute(APIRoute):
    """The route class of every router that takes a JSON body (``APIRouter(route_class=ThreadedJSONRoute)``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def threaded_json_handler(request: Request) -> Response:
            return await handler(ThreadedJSONRequest(request.scope, request.receive))

        return threaded_json_handler
