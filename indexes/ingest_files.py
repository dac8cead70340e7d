"""Read documents to ingest from a JSONL file, validated in full before anything is written."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.json_values import lone_surrogate, too_deep
from core.jsonl import iter_json_lines


def document_from_record(record: Any, where: str) -> Document:
    """``{id|_id, text|content, title?, meta?}`` → Document; InvalidInputError naming ``where``."""
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object.")
    problem = lone_surrogate(record, where) or too_deep(record.get("meta"), f"{where}: 'meta'")
    if problem:
        raise InvalidInputError(problem)
    doc_id = document_id(record, where)
    text = record.get("text", record.get("content"))
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{where}: document '{doc_id}' needs a non-empty 'text'.")
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise InvalidInputError(f"{where}: 'meta' must be an object.")
    if not finite(meta):
        raise InvalidInputError(f"{where}: document '{doc_id}' has NaN or Infinity in 'meta': JSON numbers must be "
                                "finite.")
    if isinstance(record.get("title"), str) and record["title"]:
        meta = {**meta, "title": record["title"]}
    return Document(id=str(doc_id), content=text, meta=meta)


def document_id(record: dict[str, Any], where: str) -> str:
    """The record's ``id`` (or ``_id``): a non-empty string or an integer (never a boolean or a float)."""
    field = "id" if "id" in record else "_id"
    value = record.get(field)
    if value is None or value == "":
        raise InvalidInputError(f"{where}: missing 'id'.")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(f"{where}: '{field}' must be a string or an integer, not {type(value).__name__}.")
    return str(value)


def finite(value: Any) -> bool:
    """No NaN or ±Infinity anywhere inside ``value`` (they cannot be written back as JSON)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def read_documents_file(path: Path) -> list[Document]:
    """Every document of a JSONL file (plain or .gz), or an error naming the first bad line."""
    return [document_from_record(record, f"{path}:{number}") for number, record in iter_json_lines(path)]
