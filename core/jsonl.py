"""Reading JSON Lines files (plain or gzipped) with errors that name the file and line."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from core.errors import InvalidInputError, NotFoundError


def open_text(path: Path) -> IO[str]:
    """A text handle on ``path``, decompressing ``.gz``."""
    if not path.is_file():
        raise NotFoundError(f"File '{path}' not found.")
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line; InvalidInputError on a non-JSON line."""
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({error.msg}).") from None
