"""Uploaded files → sources → chunks, staged for the ``ingest_files`` job (``workers/source_ingest_job.py``) that
replaces each source's chunks. Conversion runs where the files are (the API's thread pool, the CLI); a bad file
gets a per-file error and the others go on."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.settings import Settings, get_settings
from indexes.sources.chunking import chunk_source
from indexes.sources.file_names import source_name
from indexes.sources.reading import check_size, read_source
from indexes.sources.source_file import SourceLimits
from workers.job_model import Job
from workers.runner import job_runner
from workers.upload_staging import stage_upload

logger = logging.getLogger(__name__)
MAX_ERRORS_SHOWN = 5


@dataclass
class IncomingFile:
    """A file as the client named it, its size (known before reading) and how to read its bytes."""

    name: str | None
    size: int
    read: Callable[[], bytes]


def limits(settings: Settings) -> SourceLimits:
    return SourceLimits(max_file_bytes=settings.max_file_bytes, max_text_chars=settings.max_source_chars)


def convert_file(incoming: IncomingFile, taken: set[str], settings: Settings) -> tuple[dict[str, Any], list[Document]]:
    """(outcome, chunks) of one file; a bad file's outcome has ``status: failed`` and an ``error`` sentence."""
    name = (incoming.name or "")[:255]
    try:
        name = source_name(incoming.name)
        if name in taken:
            raise InvalidInputError(f"{name}: another file of this upload has the same name.")
        check_size(name, incoming.size, limits(settings))
        source = read_source(incoming.read(), name, limits(settings))
        chunks = chunk_source(source)
    except InvalidInputError as error:
        return {"name": name, "status": "failed", "error": str(error)}, []
    except Exception as error:  # a converter's own failure: this file only, never the upload or a 500
        logger.warning("converting %s failed", name, exc_info=True)
        return {"name": name, "status": "failed",
                "error": f"{name}: the file could not be converted ({type(error).__name__})."}, []
    taken.add(name)
    return {"name": name, "source_id": source.source_id, "status": "converted", "type": source.mime_type,
            "size": source.size, "sha256": source.sha256, "pages": len(source.pages), "chunks": len(chunks)}, chunks


def stage_files(collection: str, files: Iterable[IncomingFile],
                on_file: Callable[[dict[str, Any]], None] | None = None) -> Job:
    """Convert every file, stage the chunks and submit the ``ingest_files`` job; an InvalidInputError listing the
    per-file errors when no file could be converted."""
    settings = get_settings()
    outcomes: list[dict[str, Any]] = []
    chunks: list[Document] = []
    taken: set[str] = set()
    for incoming in files:
        outcome, documents = convert_file(incoming, taken, settings)
        outcomes.append(outcome)
        chunks.extend(documents)
        if on_file is not None:
            on_file(outcome)
    if not chunks:
        errors = [o["error"] for o in outcomes if o.get("error")]
        shown = " ".join(errors[:MAX_ERRORS_SHOWN]) + (f" (and {len(errors) - MAX_ERRORS_SHOWN} more)"
                                                         if len(errors) > MAX_ERRORS_SHOWN else "")
        raise InvalidInputError(f"No file could be ingested. {shown}".strip() if errors else "No files given.")
    return job_runner().submit("ingest_files", {"collection": collection, "upload": stage_upload(chunks),
                                                "files": outcomes})

