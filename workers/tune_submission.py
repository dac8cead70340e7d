"""Starting and undoing a collection's tuning: checks made before a job is queued (one tune per collection at a
time: a second is a conflict), and the revert to the shipped default (with the dense re-index it needs)."""
from __future__ import annotations

from typing import Any

from core.errors import ConflictError
from indexes.retriever import collection_manager
from rag.tuning.tune_spec import TuneSpec
from workers.job_model import Job
from workers.runner import job_runner
from workers.tune_job import KIND, check_tunable

TUNE_JOB = "tune"


def running_tune(collection: str) -> Job | None:
    """An unfinished tuning job of ``collection``, if any."""
    return next((job for job in job_runner().store.list(500) if job.type == TUNE_JOB and not job.state.finished
                 and job.params.get("collection") == collection), None)


def submit_tune(collection: str, spec: TuneSpec) -> Job:
    """Queue a tuning job; InvalidInputError/NotFoundError for what it could not do, ConflictError while one runs."""
    check_tunable(collection, spec)
    running = running_tune(collection)
    if running is not None:
        raise ConflictError(f"Collection '{collection}' is being tuned by job {running.id}: wait for it or cancel it.")
    return job_runner().submit(TUNE_JOB, {"collection": collection, **spec.model_dump()})


def revert_tuning(collection: str) -> dict[str, Any]:
    """Make the shipped encoder serve ``collection`` again; its dense index is rebuilt with it (a job) when the
    live one was built with the tuned encoder."""
    target = collection_manager().get(collection)
    tuned = target.models.live_path(KIND)
    reverted = target.models.revert(KIND)
    dense = target.versions(KIND).current()
    reindex = None
    if tuned is not None and dense and target.versions(KIND).manifest(dense).get("model") == str(tuned):
        reindex = job_runner().submit("build", {"collection": collection, "kind": KIND, "options": {}})
    return {"collection": collection, "kind": KIND, "reverted_version": reverted, "reindex_job": reindex}
