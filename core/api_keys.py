"""API keys with a role and the collections they reach.

``SIFTRAG_API_KEYS`` is a JSON list; a plain string is an admin key for every collection, an object
``{"key": "...", "role": "read|write|admin", "collections": ["tenant-a-*"]}`` a scoped one (``fnmatch`` patterns,
default every collection). Roles are ordered: ``read`` < ``write`` < ``admin``.
"""
from __future__ import annotations

import fnmatch
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["read", "write", "admin"]
ROLE_LEVEL = {"read": 0, "write": 1, "admin": 2}


class ApiKey(BaseModel):
    """One accepted key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, pattern=r"\S", description="the secret sent as X-API-Key")
    role: Role = "admin"
    collections: tuple[str, ...] = ("*",)

    def allows(self, role: Role) -> bool:
        return ROLE_LEVEL[self.role] >= ROLE_LEVEL[role]

    def reaches(self, collection: str) -> bool:
        return any(fnmatch.fnmatchcase(collection, pattern) for pattern in self.collections)

    def matches(self, given: bytes) -> bool:
        """``given``: the header's bytes as sent (a non-ASCII key is compared as UTF-8)."""
        return secrets.compare_digest(given, self.key.encode("utf-8"))


def parse_api_keys(value: object) -> list[ApiKey]:
    """Plain strings become admin keys; an empty or whitespace key is refused (it would let anyone in)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("SIFTRAG_API_KEYS must be a JSON list of keys or key objects.")
    keys = []
    for item in value:
        key = ApiKey(key=item) if isinstance(item, str) and item.strip() else item
        if isinstance(key, str) or (isinstance(key, dict) and not str(key.get("key", "")).strip()):
            raise ValueError("SIFTRAG_API_KEYS holds an empty key: that would let anyone in.")
        keys.append(key if isinstance(key, ApiKey) else ApiKey.model_validate(key))
    return keys
