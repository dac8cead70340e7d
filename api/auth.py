"""Who is calling: the ``X-API-Key`` header resolved to a role and the collections it reaches.

With keys configured (``SIFTRAG_API_KEYS``), write and admin routes need a key of that role whose collection
patterns match; query routes need a ``read`` key when ``protect_queries`` is on, and a key that is sent must
always be valid. With no keys (the embedded quick-start), loopback callers are admin and others may only read.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from core.api_keys import ApiKey, Role
from core.settings import get_settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Caller:
    """The authenticated key, or an anonymous caller (``key`` None) from loopback or not."""

    key: ApiKey | None
    loopback: bool

    def can(self, role: Role, collection: str | None = None) -> bool:
        if self.key is not None:
            return self.key.allows(role) and (collection is None or self.key.reaches(collection))
        settings = get_settings()
        if role == "read":
            return not (settings.api_keys and settings.protect_queries)
        return not settings.api_keys and self.loopback

    def require(self, role: Role, collection: str | None = None) -> None:
        """401 when no (valid) key could allow this, 403 when the key's role or collections do not."""
        if self.can(role, collection):
            return
        if self.key is not None:
            scope = f" on collection '{collection}'" if collection is not None and self.key.allows(role) else ""
            raise HTTPException(403, f"This API key (role '{self.key.role}') may not do this{scope}: "
                                     f"it needs role '{role}'{' and a matching collection' if scope else ''}.")
        if not get_settings().api_keys:
            raise HTTPException(401, "No API keys are configured: this route accepts loopback clients only.")
        raise HTTPException(401, "This route needs a valid X-API-Key header.")

    @property
    def is_admin(self) -> bool:
        return self.can("admin")


async def caller(request: Request, x_api_key: Annotated[str | None, Header()] = None,
                 authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Caller:
    """The caller of this request; 401 for a key that matches none (a sent key is never ignored). Clients of
    the Cohere/OpenAI-compatible routes send their key as ``Authorization: Bearer KEY``: it counts as the key
    when keys are configured (their SDKs insist on sending one, so an open server ignores it). ``async``, like
    ``require``'s check: a few comparisons, cheaper on the event loop than a hop to the thread pool."""
    loopback = bool(request.client) and request.client.host in LOOPBACK
    keys = get_settings().api_keys
    if x_api_key is None and keys and authorization and authorization.lower().startswith("bearer "):
        x_api_key = authorization[7:].strip()
    if x_api_key is None:
        return Caller(None, loopback)
    sent = x_api_key.encode("latin-1")  # the header's bytes as sent (HTTP headers reach us Latin-1 decoded)
    for key in keys:
        if key.matches(sent):
            return Caller(key, loopback)
    raise HTTPException(401, "The API key (X-API-Key or Authorization: Bearer) matches no configured key.")


CallerDep = Annotated[Caller, Depends(caller)]


def require(role: Role) -> Callable[..., Caller]:
    """A route dependency: the caller may act with ``role`` on the route's ``{name}`` collection, if any."""

    async def check(request: Request, who: CallerDep) -> Caller:
        who.require(role, request.path_params.get("name"))
        return who

    return check


require_read = require("read")
require_write = require("write")
require_admin = require("admin")
