"""Client file names are metadata only: reduced to a base name that never reaches the disk as a path."""
from __future__ import annotations

import hashlib
import re
import unicodedata

from core.errors import InvalidInputError

MAX_NAME_CHARS = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def source_name(client_name: str | None) -> str:
    """The base name of ``client_name`` (``../../etc/passwd`` → ``passwd``, ``C:\\docs\\a.pdf`` → ``a.pdf``), without
    control characters; an InvalidInputError when nothing usable is left (e.g. ``..`` or an empty name)."""
    name = unicodedata.normalize("NFC", client_name or "")
    name = _UNSAFE.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if name in {"", ".", ".."}:
        raise InvalidInputError(f"'{(client_name or '')[:100]}' has no usable file name.")
    return name[-MAX_NAME_CHARS:]


def source_id(name: str) -> str:
    """The stable id of the source named ``name`` (a re-upload of the same name replaces it)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
