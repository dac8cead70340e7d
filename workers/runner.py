"""Submitting jobs: to Celery workers over Redis, or to an in-process thread pool (embedded default)."""
from __future__ import annotations

import os
import socket
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
    train_cross_encoder,
    train_dyprag,
    train_embedder,
    train_reader,
    train_reranker,
    train_tilde,
    train_yes_no_head,
)
from workers.job_model import Job, JobState
from workers.job_store import JobStore
from workers.source_ingest_job import ingest_files
from workers.stores import job_store
from workers.tune_job import tune_collection
from workers.upload_staging import remove_orphans


class JobRunner(ABC):
    """Creates the job record, then hands the job to whatever executes it."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    runner_id: str | None = None

    def submit(self, job_type: str, params: dict[str, Any]) -> Job:
        job = self.store.create(job_type, params, runner=self.runner_id)
        self._dispatch(job)
        return self.store.get(job.id)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop; a queued job is cancelled at once, a running one at its next check."""
        job = self.store.get(job_id)
        if job.state.finished:
            return job
        self.store.update(job_id, cancel_requested=True)  # a start after this finds it and does not run the job
        self.store.transition(job_id, _queued, state=JobState.cancelled, finished_at=time.time())
        self._revoke(job_id)
        return self.store.get(job_id)

    @abstractmethod
    def _dispatch(self, job: Job) -> None: ...

    def _revoke(self, job_id: str) -> None:
        """Drop a not-yet-started task from the executor's queue, where it can."""


class EmbeddedRunner(JobRunner):
    """Runs jobs on a small thread pool inside this process; needs no services. Jobs live as long as the
    process: on start, jobs left queued by a process that is gone are failed with a reason (running ones are
    failed by the heartbeat check), and ``shutdown`` fails this process's unfinished jobs at once."""

    def __init__(self, store: JobStore, workers: int = 2) -> None:
        super().__init__(store)
        self.runner_id = f"embedded:{socket.gethostname()}:{os.getpid()}"
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siftrag-job")
        self.fail_orphans()
        self.clean_uploads()

    def fail_orphans(self) -> list[str]:
        """Fail the queued jobs of embedded runners on this host whose process has exited; their ids."""
        failed = []
        for job in self.store.list(500):
            pid = _local_pid(job.runner)
            if job.state is JobState.queued and pid is not None and not _alive(pid) and self.store.transition(
                    job.id, _queued, state=JobState.failed, finished_at=time.time(),
                    error="The server process that accepted this job stopped before it ran; submit it again."):
                failed.append(job.id)
        return failed

    def clean_uploads(self, min_age_s: float = 60.0) -> list[str]:
        """Remove staged uploads that no unfinished job will read (left by a crash); the removed references."""
        wanted = {job.params.get("upload") for job in self.store.list(500) if not job.state.finished}
        return remove_orphans(wanted, min_age_s)

    def shutdown(self) -> None:
        """Fail (and stop at their next progress check) this process's unfinished jobs; drop queued ones."""
        for job in self.store.list(500):
            if job.runner == self.runner_id and not job.state.finished:
                self.store.finish(job.id, JobState.failed, cancel_requested=True,
                                  error="The server shut down before this job finished; submit it again.")
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self, job: Job) -> None:
        bodies = {"build": build_index, "ingest": ingest_documents, "ingest_files": ingest_files,
                  "evaluate": run_evaluation_in_process,
                  "train_dyprag": train_dyprag, "train_reranker": train_reranker,
                  "train_cross_encoder": train_cross_encoder, "train_embedder": train_embedder,
                  "train_reader": train_reader, "train_tilde": train_tilde,
                  "train_yes_no_head": train_yes_no_head, "tune": tune_collection}
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


def _queued(job: Job) -> bool:
    return job.state is JobState.queued


def _local_pid(runner: str | None) -> int | None:
    """The pid of an embedded runner on this host, from its id ``embedded:HOST:PID``."""
    kind, _, rest = (runner or "").partition(":")
    host, _, pid = rest.rpartition(":")
    return int(pid) if kind == "embedded" and host == socket.gethostname() and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@lru_cache(maxsize=1)
def job_runner() -> JobRunner:
    """Celery when ``SIFTRAG_REDIS_URL`` is set, else the embedded runner."""
    store = job_store()
    return CeleryRunner(store) if get_settings().redis_url else EmbeddedRunner(store)
