"""Read documents to ingest from a JSONL file, validated in full before anything is written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haystack import Document

from core.errors import InvalidInputError, NotFoundError


def document_from_record(record: Any, where: str) -> Document:
    """``{id|_id, text|content, title?, meta?}`` → Document; InvalidInputError naming ``where``."""
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object.")
    doc_id = record.get("id", record.get("_id"))
    text = record.get("text", record.get("content"))
    if not isinstance(doc_id, (str, int)) or str(doc_id) == "":
        raise InvalidInputError(f"{where}: missing 'id'.")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{where}: document '{doc_id}' needs a non-empty 'text'.")
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise InvalidInputError(f"{where}: 'meta' must be an object.")
    if isinstance(record.get("title"), str) and record["title"]:
        meta = {**meta, "title": record["title"]}
    return Document(id=str(doc_id), content=text, meta=meta)


def read_documents_file(path: Path) -> list[Document]:
    if not path.is_file():
        raise NotFoundError(f"File '{path}' not found.")
    documents = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({error.msg}).") from None
            documents.append(document_from_record(record, f"{path}:{number}"))
    return documents
