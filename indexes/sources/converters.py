"""Text from a file's bytes by Haystack's converters, chosen by detected type; every failure is one sentence."""
from __future__ import annotations

import io
import zipfile
from functools import cache
from typing import Any

from haystack import Document
from haystack.dataclasses import ByteStream

from core.errors import InvalidInputError
from indexes.sources.file_types import DOCX, HTML, MARKDOWN, PDF, TEXT

MAX_UNZIP_RATIO = 10  # a DOCX may unpack to this many times the per-file byte limit (zip bombs stop here)


@cache
def converter(mime_type: str) -> Any:
    """The Haystack converter component of ``mime_type`` (stateless: one per process)."""
    from haystack.components.converters import (
        DOCXToDocument,
        HTMLToDocument,
        MarkdownToDocument,
        PyPDFToDocument,
        TextFileToDocument,
    )

    return {PDF: PyPDFToDocument, DOCX: DOCXToDocument, HTML: HTMLToDocument, MARKDOWN: MarkdownToDocument,
            TEXT: TextFileToDocument}[mime_type]()


def convert(data: bytes, mime_type: str, name: str, max_file_bytes: int) -> tuple[list[str], str | None]:
    """(text of each page — one entry unless the format has pages, title or None)."""
    title = None
    if mime_type == PDF:
        title = check_pdf(data, name)
    elif mime_type == DOCX:
        check_unzipped_size(data, name, MAX_UNZIP_RATIO * max_file_bytes)
    documents: list[Document] = converter(mime_type).run(sources=[ByteStream(data=data)])["documents"]
    if not documents:
        raise InvalidInputError(f"{name}: the file could not be read as {mime_type} (corrupt or truncated?).")
    text = documents[0].content or ""
    if mime_type == DOCX:
        title = (documents[0].meta.get("docx") or {}).get("title") or None
    elif mime_type == HTML:
        title = html_title(data)
    if not text.strip():
        hint = " (a scanned image? run OCR on it first)" if mime_type == PDF else ""
        raise InvalidInputError(f"{name}: the file has no extractable text{hint}.")
    return (text.split("\f") if mime_type == PDF else [text]), title


def check_pdf(data: bytes, name: str) -> str | None:
    """Refuse an unreadable or password-protected PDF before converting it; its title, if it has one."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInputError(f"{name}: the PDF is encrypted (password-protected); upload a decrypted copy.")
        info = reader.metadata
        return (info.title or None) if info else None
    except InvalidInputError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise InvalidInputError(f"{name}: the PDF could not be read ({str(error)[:150] or 'corrupt'}).") from None


def check_unzipped_size(data: bytes, name: str, limit: int) -> None:
    """A DOCX (a zip) whose parts unpack to more than ``limit`` bytes is refused before it is unpacked."""
    try:
        unpacked = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except zipfile.BadZipFile:
        raise InvalidInputError(f"{name}: the DOCX could not be read (not a valid zip archive).") from None
    if unpacked > limit:
        raise InvalidInputError(f"{name}: the DOCX unpacks to {unpacked} bytes, more than the limit of {limit}.")


def html_title(data: bytes) -> str | None:
    from trafilatura import extract_metadata

    metadata = extract_metadata(data.decode("utf-8", errors="replace"))
    return (metadata.title or None) if metadata is not None else None
