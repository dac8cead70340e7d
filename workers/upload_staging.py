"""Ingest payloads staged for a job: the documents are written whole (write aside, then rename) to the data
dir's ``uploads`` folder, which the API, the CLI and the workers share; the runner removes orphans."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from pathlib import Path

from haystack import Document

from core.atomic_publish import written_aside
from core.settings import get_settings


def uploads_dir() -> Path:
    return Path(get_settings().data_dir) / "uploads"


def new_upload_path() -> Path:
    """A fresh file name for an ingest payload."""
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.jsonl"


def stage_upload(documents: Iterable[Document]) -> str:
    """Write ``documents`` as JSONL for the ingest job; the path the job reads (``upload``)."""
    upload = new_upload_path()
    with written_aside(upload) as partial, open(partial, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"id": d.id, "text": d.content, "meta": d.meta}, allow_nan=False) + "\n"
                          for d in documents)
    return str(upload)
