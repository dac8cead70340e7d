"""Checks of JSON values from outside (request bodies, ingested documents) that Python's ``json`` accepts but the
service cannot store or send back: lone UTF-16 surrogates (``"\\ud800"``) and ``meta`` nested too deeply."""
from __future__ import annotations

import re
from typing import Any

MAX_META_DEPTH = 32  # levels of objects and lists inside one document's ``meta``
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs: any left is a lone one


def lone_surrogate(value: Any, where: str) -> str | None:
    """A sentence naming the first string or key inside ``value`` (at ``where``; "" for a request body, whose
    fields are then named alone) with a lone surrogate, or None."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return (f"{path or 'the body'} contains a lone UTF-16 surrogate (\\u{ord(found.group()):04x}): text "
                        "must be valid Unicode.")
        elif isinstance(item, (dict, list)):
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                stack.append((child, f"{path}.{key}" if path else str(key)))
                if isinstance(key, str):
                    stack.append((key, f"a key of {path or 'the body'}"))
    return None


def too_deep(value: Any, where: str, limit: int = MAX_META_DEPTH) -> str | None:
    """A sentence when objects and lists nest more than ``limit`` levels inside ``value``, or None (no recursion,
    so any depth is measured)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return f"{where} is nested more than {limit} levels deep."
            stack += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return None
