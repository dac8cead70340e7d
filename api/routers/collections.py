"""Collections, documents and index builds (admin routes)."""
from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import Caller, CallerDep, require_admin, require_read, require_write
from api.job_view import job_view
from api.json_body import ThreadedJSONRoute, loads_yielding
from api.model_names import ANY_MODEL, EMBEDDER, TILDE_SCORER, check_option_models
from api.schemas import BuildRequest, CollectionCreate, CollectionOut, DocumentIds
from core.errors import InvalidInputError, TooLargeError
from core.settings import get_settings
from indexes.index_kind import index_kind
from indexes.ingest_files import document_from_record
from indexes.retriever import collection_manager
from rag.tuning.tune_spec import TuneSpec
from workers.job_model import Job
from workers.runner import job_runner
from workers.tune_submission import revert_tuning, submit_tune
from workers.upload_staging import stage_upload

router = APIRouter(prefix="/v1/collections", tags=["collections"], route_class=ThreadedJSONRoute)
WriterDep = Annotated[Caller, Depends(require_write)]  # may write to the route's collection
DOCUMENT_ID = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}  # never a boolean or a float
UPLOAD_RECORD = {"type": "object", "properties": {"id": DOCUMENT_ID, "_id": DOCUMENT_ID, "text": {"type": "string"},
                                                  "content": {"type": "string"}, "title": {"type": "string"},
                                                  "meta": {"type": "object"}}}
BUILD_MODELS = {"dense": EMBEDDER, "tilde": TILDE_SCORER}  # what each index kind's ``model`` option names


@router.post("", status_code=201, response_model=CollectionOut)
def create_collection(body: CollectionCreate, who: CallerDep) -> dict[str, Any]:
    who.require("write", body.name)
    return collection_manager().create(body.name, body.description).status()


@router.get("")
def list_collections(who: CallerDep) -> dict[str, list[str]]:
    """The collections this caller may read."""
    who.require("read")
    return {"collections": [name for name in collection_manager().names() if who.can("read", name)]}


@router.get("/{name}", response_model=CollectionOut, dependencies=[Depends(require_read)])
def get_collection(name: str) -> dict[str, Any]:
    return collection_manager().get(name).status()


@router.delete("/{name}", status_code=204, dependencies=[Depends(require_admin)])
def delete_collection(name: str) -> None:
    collection_manager().delete(name)


def _records(body: bytes, content_type: str) -> list[Any]:
    """A JSON list, ``{"documents": [...]}``, or JSONL (one object per line)."""
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInputError("Body must be UTF-8 text.") from None
    if "json" in content_type and "ndjson" not in content_type and "jsonl" not in content_type:
        payload = _json(text, "Body")
        records = payload.get("documents") if isinstance(payload, dict) else payload
        if not isinstance(records, list):
            raise InvalidInputError("Body must be a JSON list of documents or {\"documents\": [...]}.")
        return records
    return [_json(line, f"JSONL line {number}") for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()]


def _json(text: str, where: str) -> Any:
    try:
        return loads_yielding(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{where} is not valid JSON ({error.msg} at line {error.lineno}).") from None
    except RecursionError:
        raise InvalidInputError(f"{where} is nested too deeply.") from None


def _stage_upload(name: str, body: bytes, content_type: str) -> Job:
    """Validate every document, write them to a staging file and submit the ingest job (CPU-bound: a thread)."""
    settings = get_settings()
    records = _records(body, content_type)
    if not records:
        raise InvalidInputError("No documents given.")
    if len(records) > settings.max_ingest_documents:
        raise TooLargeError(f"{len(records)} documents exceed the limit of {settings.max_ingest_documents} per request.")
    documents = [document_from_record(record, f"document {i}") for i, record in enumerate(records)]
    for i, document in enumerate(documents):
        if len(document.content) > settings.max_document_chars:
            raise TooLargeError(f"document {i}: {len(document.content)} characters exceed {settings.max_document_chars}.")
    return job_runner().submit("ingest", {"collection": name, "upload": stage_upload(documents)})


@router.post("/{name}/documents", status_code=202, response_model=Job,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": UPLOAD_RECORD}},
                 "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def ingest_documents(name: str, request: Request, who: WriterDep) -> Job:
    """Documents as a JSON list, ``{"documents": [...]}`` or JSONL; validated in full, staged, ingested in a job."""
    collection_manager().get(name)
    body = await request.body()  # at most max_ingest_body_bytes (api/body_limit.py)
    return job_view(await run_in_threadpool(_stage_upload, name, body, request.headers.get("content-type", "")), who)


@router.delete("/{name}/documents", status_code=202, response_model=Job)
def delete_documents(name: str, body: DocumentIds, who: WriterDep) -> Job:
    collection_manager().get(name)
    return job_view(job_runner().submit("ingest", {"collection": name, "upload": "", "delete_ids": body.ids}), who)


@router.post("/{name}/indexes/{kind}:build", status_code=202, response_model=Job)
def build_index(name: str, kind: str, who: WriterDep, body: BuildRequest | None = None) -> Job:
    """A build job; a model option names a registry or trained model (or one the operator allowed), never a path."""
    index_kind(kind)
    options = (body or BuildRequest()).options
    try:
        check_option_models(options, "options", {"model": BUILD_MODELS.get(kind, ANY_MODEL)})
    except ValueError as error:
        raise InvalidInputError(f"{error}.") from None
    collection_manager().get(name)
    return job_view(job_runner().submit("build", {"collection": name, "kind": kind, "options": options}), who)


@router.post("/{name}:tune", status_code=202, response_model=Job, dependencies=[Depends(require_admin)])
def tune_collection(name: str, who: CallerDep, body: TuneSpec | None = None) -> Job:
    """A tuning job: synthetic queries from the collection's passages train its dense encoder (the ``embedding``
    reranker's model), published for this collection only if a held-out check finds it no worse; 409 while one
    runs."""
    return job_view(submit_tune(name, body or TuneSpec()), who)


@router.delete("/{name}/tuned-models/dense", dependencies=[Depends(require_admin)])
def revert_tuned_model(name: str, who: CallerDep) -> dict[str, Any]:
    """The shipped encoder serves the collection again; ``reindex_job`` rebuilds its dense index when the live one
    was built with the tuned encoder."""
    reverted = revert_tuning(name)
    job = reverted["reindex_job"]
    return {**reverted, "reindex_job": job_view(job, who).model_dump(mode="json") if job else None}
