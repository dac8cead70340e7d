"""Bytes and a client file name → a ``SourceFile``, or an InvalidInputError with one sentence naming the file."""
from __future__ import annotations

from core.errors import InvalidInputError
from indexes.sources.converters import convert
from indexes.sources.file_names import source_id, source_name
from indexes.sources.file_types import PDF, detect_type
from indexes.sources.source_file import SourceFile, SourceLimits, sha256_hex


def check_size(name: str, size: int, limits: SourceLimits) -> None:
    """Refuse an empty file or one over the per-file limit (before reading it, where the size is known)."""
    if size == 0:
        raise InvalidInputError(f"{name}: the file is empty.")
    if size > limits.max_file_bytes:
        raise InvalidInputError(f"{name}: {size} bytes exceed the per-file limit of {limits.max_file_bytes} bytes.")


def read_source(data: bytes, client_name: str | None, limits: SourceLimits) -> SourceFile:
    """Detect, convert and describe one file; nothing is written anywhere."""
    name = source_name(client_name)
    check_size(name, len(data), limits)
    mime_type = detect_type(data, name)
    pages, title = convert(data, mime_type, name, limits.max_file_bytes)
    chars = sum(len(page) for page in pages)
    if chars > limits.max_text_chars:
        raise InvalidInputError(f"{name}: the file expands to {chars} characters of text, more than the limit of "
                                f"{limits.max_text_chars}.")
    return SourceFile(name=name, source_id=source_id(name), mime_type=mime_type, size=len(data),
                      sha256=sha256_hex(data), pages=pages, paged=mime_type == PDF, title=title)
