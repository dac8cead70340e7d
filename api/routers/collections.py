"""Collections, documents and index builds (admin routes)."""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import require_admin, require_query_access
from api.schemas import BuildRequest, CollectionCreate, CollectionOut, DocumentIds
from core.errors import InvalidInputError, TooLargeError
from core.settings import get_settings
from indexes.index_kind import index_kind
from indexes.ingest_files import document_from_record
from indexes.retriever import collection_manager
from workers.job_functions import new_upload_path
from workers.job_model import Job
from workers.runner import job_runner

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post("", status_code=201, response_model=CollectionOut, dependencies=[Depends(require_admin)])
def create_collection(body: CollectionCreate) -> dict[str, Any]:
    return collection_manager().create(body.name, body.description).status()


@router.get("", dependencies=[Depends(require_query_access)])
def list_collections() -> dict[str, list[str]]:
    return {"collections": collection_manager().names()}


@router.get("/{name}", response_model=CollectionOut, dependencies=[Depends(require_query_access)])
def get_collection(name: str) -> dict[str, Any]:
    return collection_manager().get(name).status()


@router.delete("/{name}", status_code=204, dependencies=[Depends(require_admin)])
def delete_collection(name: str) -> None:
    collection_manager().delete(name)


def _records(body: bytes, content_type: str) -> list[Any]:
    """A JSON list, ``{"documents": [...]}``, or JSONL (one object per line)."""
    text = body.decode("utf-8", errors="strict")
    if "json" in content_type and "ndjson" not in content_type and "jsonl" not in content_type:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"Body is not valid JSON ({error.msg} at line {error.lineno}).") from None
        records = payload.get("documents") if isinstance(payload, dict) else payload
        if not isinstance(records, list):
            raise InvalidInputError("Body must be a JSON list of documents or {\"documents\": [...]}.")
        return records
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"JSONL line {number} is not valid JSON ({error.msg}).") from None
    return records


@router.post("/{name}/documents", status_code=202, response_model=Job, dependencies=[Depends(require_admin)])
async def ingest_documents(name: str, request: Request) -> Job:
    """Validate every document, stage them in the data dir, and ingest them in a job."""
    settings = get_settings()
    collection_manager().get(name)
    limit_bytes = settings.max_ingest_documents * settings.max_document_chars // 10
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit_bytes:
        raise TooLargeError(f"Body of {declared} bytes exceeds the limit of {limit_bytes} bytes.")
    body = await request.body()
    if len(body) > limit_bytes:
        raise TooLargeError(f"Body of {len(body)} bytes exceeds the limit of {limit_bytes} bytes.")
    try:
        records = _records(body, request.headers.get("content-type", ""))
    except UnicodeDecodeError:
        raise InvalidInputError("Body must be UTF-8 text.") from None
    if not records:
        raise InvalidInputError("No documents given.")
    if len(records) > settings.max_ingest_documents:
        raise TooLargeError(f"{len(records)} documents exceed the limit of {settings.max_ingest_documents} per request.")
    documents = [document_from_record(record, f"document {i}") for i, record in enumerate(records)]
    for i, document in enumerate(documents):
        if len(document.content) > settings.max_document_chars:
            raise TooLargeError(f"document {i}: {len(document.content)} characters exceed {settings.max_document_chars}.")
    upload = new_upload_path()
    with open(upload, "w", encoding="utf-8") as handle:
        for d in documents:
            handle.write(json.dumps({"id": d.id, "text": d.content, "meta": d.meta}) + "\n")
    return job_runner().submit("ingest", {"collection": name, "upload": str(upload)})


@router.delete("/{name}/documents", status_code=202, response_model=Job, dependencies=[Depends(require_admin)])
def delete_documents(name: str, body: DocumentIds) -> Job:
    collection_manager().get(name)
    return job_runner().submit("ingest", {"collection": name, "upload": "", "delete_ids": body.ids})


@router.post("/{name}/indexes/{kind}:build", status_code=202, response_model=Job,
             dependencies=[Depends(require_admin)])
def build_index(name: str, kind: str, body: BuildRequest | None = None) -> Job:
    index_kind(kind)
    collection_manager().get(name)
    return job_runner().submit("build", {"collection": name, "kind": kind, "options": (body or BuildRequest()).options})
