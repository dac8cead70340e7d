"""Fields a compatible route accepted but did not apply (new SDK fields, options that have no meaning here): they
are named in the ``X-Siftrag-Ignored`` response header instead of failing the request. Only names that are safe in a
header are listed (letters, digits, ``_.-``, at most 64 characters, the first 20); the rest are counted."""
from __future__ import annotations

import re
from collections.abc import Iterable

IGNORED_HEADER = "X-Siftrag-Ignored"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LISTED = 20


def ignored_header(names: Iterable[str]) -> dict[str, str]:
    """``{"X-Siftrag-Ignored": …}`` naming ``names``, or nothing when there are none."""
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    safe = [n for n in names if _SAFE_NAME.fullmatch(n)][:_LISTED]
    rest = len(names) - len(safe)
    return {IGNORED_HEADER: ", ".join(safe + ([f"{rest} more"] if rest else []))}
