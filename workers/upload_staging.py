"""Ingest payloads staged for a job, written whole before the job is submitted: in PostgreSQL when
``SIFTRAG_DATABASE_URL`` is set (hosts share nothing but the database: the job parameter is ``postgres:<id>``),
else as a file in the data dir's ``uploads`` folder (write aside, then rename), which the API, the CLI and the
workers share. Runners remove the orphans a crash leaves."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from haystack import Document

from core.atomic_publish import written_aside
from core.errors import NotFoundError
from core.postgres import connection_pool
from core.settings import get_settings
from indexes.ingest_files import document_from_record, read_documents_file

POSTGRES_PREFIX = "postgres:"


def uploads_dir() -> Path:
    return Path(get_settings().data_dir) / "uploads"


def new_upload_path() -> Path:
    """A fresh file name for an ingest payload."""
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.jsonl"


def _lines(documents: Iterable[Document]) -> Iterable[str]:
    return (json.dumps({"id": d.id, "text": d.content, "meta": d.meta}, allow_nan=False) + "\n" for d in documents)


def stage_upload(documents: Iterable[Document]) -> str:
    """Stage ``documents`` (JSONL) for the ingest job; the reference the job reads (``upload``). An id given twice
    is staged once: the last one wins (as a later upload replaces it), so the job counts distinct documents."""
    documents = list({document.id: document for document in documents}.values())
    url = get_settings().database_url
    if url:
        upload_id = uuid.uuid4().hex
        with connection_pool(url).connection() as connection:
            connection.execute("INSERT INTO siftrag_uploads VALUES (%s, %s, %s)",
                               (upload_id, "".join(_lines(documents)).encode("utf-8"), time.time()))
        return POSTGRES_PREFIX + upload_id
    upload = new_upload_path()
    with written_aside(upload) as partial, open(partial, "w", encoding="utf-8") as handle:
        handle.writelines(_lines(documents))
    return str(upload)


def read_upload(upload: str) -> list[Document]:
    """The staged documents of ``upload``."""
    if not upload.startswith(POSTGRES_PREFIX):
        return read_documents_file(Path(upload))
    with connection_pool(get_settings().database_url or "").connection() as connection:
        row = connection.execute("SELECT body FROM siftrag_uploads WHERE id = %s",
                                 (upload[len(POSTGRES_PREFIX):],)).fetchone()
    if row is None:
        raise NotFoundError("The staged upload of this ingest job is gone; submit the documents again.")
    lines = bytes(row[0]).decode("utf-8").splitlines()
    return [document_from_record(json.loads(line), f"upload line {number}")
            for number, line in enumerate(lines, start=1) if line.strip()]


def remove_upload(upload: str) -> None:
    if not upload.startswith(POSTGRES_PREFIX):
        Path(upload).unlink(missing_ok=True)
        return
    with connection_pool(get_settings().database_url or "").connection() as connection:
        connection.execute("DELETE FROM siftrag_uploads WHERE id = %s", (upload[len(POSTGRES_PREFIX):],))


def remove_orphans(wanted: set[str], min_age_s: float) -> list[str]:
    """Remove staged uploads older than ``min_age_s`` that no unfinished job will read; the removed references."""
    cutoff = time.time() - min_age_s
    removed = []
    url = get_settings().database_url
    if url:
        with connection_pool(url).connection() as connection:
            for (upload_id,) in connection.execute("SELECT id FROM siftrag_uploads WHERE created_at < %s",
                                                   (cutoff,)).fetchall():
                if POSTGRES_PREFIX + upload_id not in wanted:
                    connection.execute("DELETE FROM siftrag_uploads WHERE id = %s", (upload_id,))
                    removed.append(POSTGRES_PREFIX + upload_id)
    folder = uploads_dir()
    if folder.is_dir():
        for path in folder.glob("*.jsonl"):
            if str(path) not in wanted and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(str(path))
    return removed
