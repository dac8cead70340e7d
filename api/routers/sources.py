"""A collection's sources: users' files uploaded as multipart, converted and chunked (``POST .../files``, a job),
listed with their chunk counts, and deleted with all their chunks. File names are metadata only."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import Caller, require_read, require_write
from api.job_view import job_view
from core.errors import InvalidInputError, TooLargeError
from core.settings import get_settings
from indexes.retriever import collection_manager
from indexes.sources.source_catalog import delete_source, stored_sources
from workers.file_staging import IncomingFile, stage_files
from workers.job_model import Job

router = APIRouter(prefix="/v1/collections", tags=["sources"])
WriterDep = Annotated[Caller, Depends(require_write)]
FILES_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}
REFUSALS: dict[int | str, dict[str, Any]] = {403: {"description": "a multipart post without an own Origin, "
                                                   "Sec-Fetch-Site or X-API-Key (a possible cross-site form)"},
                                             413: {"description": "body over SIFTRAG_MAX_FILES_BODY_BYTES"},
                                             422: {"description": "no file given, or none could be ingested"}}


def incoming_files(uploads: list[UploadFile]) -> list[IncomingFile]:
    """The uploaded parts as files whose size is known before they are read (an oversized one is never read)."""
    return [IncomingFile(name=upload.filename, size=upload.size or 0, read=upload.file.read) for upload in uploads]


@router.post("/{name}/files", status_code=202, response_model=Job, openapi_extra=FILES_BODY, responses=REFUSALS)
async def ingest_files(name: str, request: Request, who: WriterDep) -> Job:
    """PDF, DOCX, HTML, Markdown or text files (multipart field ``files``, several allowed): each converted and
    chunked on a worker thread, then ingested by a job whose result lists every file's outcome; a bad file gets a
    per-file error and the others go on. A file with a name already ingested replaces that source."""
    collection_manager().get(name)
    settings = get_settings()
    async with request.form(max_files=settings.max_upload_files, max_fields=100) as form:
        uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
        if not uploads:
            raise InvalidInputError("No files given: send them as multipart/form-data parts named 'files'.")
        if len(uploads) > settings.max_upload_files:
            raise TooLargeError(f"{len(uploads)} files exceed the limit of {settings.max_upload_files} per request.")
        job = await run_in_threadpool(stage_files, name, incoming_files(uploads))
    return job_view(job, who)


@router.get("/{name}/sources", dependencies=[Depends(require_read)])
def list_sources(name: str) -> dict[str, list[dict[str, Any]]]:
    """Every source of the collection with its chunk count (sources ingested as files; JSON documents are not)."""
    sources = stored_sources(collection_manager().get(name).store)
    return {"sources": sorted((source.listing() for source in sources.values()), key=lambda s: s["name"] or "")}


@router.delete("/{name}/sources/{source_id}", dependencies=[Depends(require_write)])
def remove_source(name: str, source_id: str) -> dict[str, Any]:
    """Remove the source's chunks in one transaction (404 for an unknown source); indexes follow as after any
    document change."""
    store = collection_manager().get(name).store
    return {"source_id": source_id, "deleted_chunks": delete_source(store, source_id), "revision": store.revision}
