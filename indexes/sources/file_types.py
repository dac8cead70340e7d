"""The type of an uploaded file from its bytes (``filetype``'s magic numbers), the name only telling Markdown from
plain text once the bytes are known to be text."""
from __future__ import annotations

import re

import filetype

from core.errors import InvalidInputError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
SUPPORTED = (PDF, DOCX, HTML, MARKDOWN, TEXT)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
_HTML_START = re.compile(rb"\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
                         re.IGNORECASE | re.DOTALL)  # an optional XML declaration, comments, then an HTML start


def detect_type(data: bytes, name: str) -> str:
    """One of ``SUPPORTED``; an InvalidInputError naming what was found otherwise."""
    kind = filetype.guess(data)
    if kind is not None:
        if kind.mime in (PDF, DOCX):
            return kind.mime
        raise InvalidInputError(f"{name}: files of type {kind.mime} are not supported (PDF, DOCX, HTML, Markdown "
                                "or plain text).")
    if not is_text(data):
        raise InvalidInputError(f"{name}: the file's type is not recognised (not PDF, DOCX or UTF-8 text).")
    if _HTML_START.match(data.removeprefix(b"\xef\xbb\xbf")[:4096]):
        return HTML
    return MARKDOWN if name.lower().endswith(MARKDOWN_SUFFIXES) else TEXT


def is_text(data: bytes) -> bool:
    """UTF-8 without NUL bytes (what the text converters read)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
