"""Submitting jobs: to Celery workers over Redis, or to an in-process thread pool (embedded default)."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from core.settings import get_settings
from workers.job_context import JobContext
from workers.job_functions import (
    build_index,
    ingest_documents,
    run_evaluation_in_process,
    train_dyprag,
    train_reranker,
)
from workers.job_model import Job, JobState
from workers.job_store import JobStore
from workers.stores import job_store


class JobRunner(ABC):
    """Creates the job record, then hands the job to whatever executes it."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def submit(self, job_type: str, params: dict[str, Any]) -> Job:
        job = self.store.create(job_type, params)
        self._dispatch(job)
        return self.store.get(job.id)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop; a queued job is cancelled at once, a running one at its next check."""
        job = self.store.get(job_id)
        if job.state.finished:
            return job
        self.store.update(job_id, cancel_requested=True)
        if job.state is JobState.queued:
            self.store.update(job_id, state=JobState.cancelled, finished_at=time.time())
        self._revoke(job_id)
        return self.store.get(job_id)

    @abstractmethod
    def _dispatch(self, job: Job) -> None: ...

    def _revoke(self, job_id: str) -> None:
        """Drop a not-yet-started task from the executor's queue, where it can."""


class EmbeddedRunner(JobRunner):
    """Runs jobs on a small thread pool inside this process; needs no services."""

    def __init__(self, store: JobStore, workers: int = 2) -> None:
        super().__init__(store)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siftrag-job")

    def _dispatch(self, job: Job) -> None:
        bodies = {"build": build_index, "ingest": ingest_documents, "evaluate": run_evaluation_in_process,
                  "train_dyprag": train_dyprag, "train_reranker": train_reranker}
        body = bodies[job.type]
        self.pool.submit(JobContext(self.store, job.id).run, lambda ctx: body(ctx, **job.params))


class CeleryRunner(JobRunner):
    """Sends jobs to Celery workers; the Celery task id is the job id."""

    def _dispatch(self, job: Job) -> None:
        from workers.celery_app import current_celery

        current_celery().send_task(f"siftrag.{job.type}", args=[job.id], task_id=job.id)

    def _revoke(self, job_id: str) -> None:
        from workers.celery_app import current_celery

        current_celery().control.revoke(job_id)


@lru_cache(maxsize=1)
def job_runner() -> JobRunner:
    """Celery when ``SIFTRAG_REDIS_URL`` is set, else the embedded runner."""
    store = job_store()
    return CeleryRunner(store) if get_settings().redis_url else EmbeddedRunner(store)
