"""The ``ingest_files`` job: replace the staged sources' chunks in one store transaction, under a per-collection
lock (staged by ``workers/file_staging.py``)."""
from __future__ import annotations

from typing import Any

from haystack import Document

from core.settings import get_settings
from indexes.retriever import collection_manager
from indexes.sources.source_catalog import replace_sources
from workers.job_context import JobContext
from workers.locks import exclusive
from workers.upload_staging import read_upload, remove_upload


def ingest_files(ctx: JobContext, collection: str, upload: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace the staged sources' chunks (a source with the same sha256 stays as it is); the result lists each
    file's outcome: added, replaced, unchanged or failed (with its error)."""
    try:
        target = collection_manager().get(collection)
        by_source: dict[str, list[Document]] = {}
        for document in read_upload(upload):
            by_source.setdefault(document.meta["source_id"], []).append(document)
        ctx.progress(0, len(by_source))
        with exclusive(f"sources/{collection}", wait_s=get_settings().job_timeout_s) as lock:
            ctx.locks.append(lock)
            ctx.check_cancelled()
            written = replace_sources(target.store, by_source)
        ctx.progress(len(by_source), len(by_source))
    finally:
        remove_upload(upload)
    results = [outcome | written.get(outcome.get("source_id", ""), {}) for outcome in files]
    counts = {status: sum(r["status"] == status for r in results)
              for status in ("added", "replaced", "unchanged", "failed")}
    return {"collection": collection, "files": results, **counts, "revision": target.store.revision}
