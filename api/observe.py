"""Pure ASGI middleware: per-route latency histogram, 503 + Retry-After when overloaded (counted), an access
log line per request, and an ``X-Request-ID`` (the caller's, if well-formed, else a new one) on every response."""
from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import REQUEST_SECONDS, REQUESTS_SHED

access_log = logging.getLogger("siftrag.access")
MAX_IN_FLIGHT = 256
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(scope: Scope) -> str:
    given = Headers(scope=scope).get("x-request-id")
    return given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class ObserveAndShed:
    def __init__(self, app: ASGIApp, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        began = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        if self.in_flight >= self.max_in_flight:
            REQUESTS_SHED.inc()
            busy = JSONResponse({"detail": "Server busy, retry shortly."}, status_code=503, headers={"Retry-After": "1"})
            await busy(scope, receive, send_with_id)
            self._log(scope, 503, began, rid)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight -= 1
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status["code"])).observe(time.perf_counter() - began)
            self._log(scope, status["code"], began, rid)

    @staticmethod
    def _log(scope: Scope, code: int, began: float, rid: str) -> None:
        client = scope.get("client") or ("-", 0)
        access_log.info("%s %s %s %d %.1fms request_id=%s", client[0], scope["method"], scope["path"], code,
                        1000 * (time.perf_counter() - began), rid)
