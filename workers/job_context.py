"""What a running job sees: progress reporting, cancellation checks, and a heartbeat thread."""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from core.errors import SiftragError
from workers.job_model import HEARTBEAT_EVERY_S, JobCancelled, JobState
from workers.job_store import JobStore
from workers.locks import HeldLock

PROGRESS_EVERY_S = 0.25
logger = logging.getLogger(__name__)


class JobContext:
    """Progress callback + heartbeat for one job. The heartbeat also keeps the held ``locks`` alive (and drops
    them once released)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.locks: list[HeldLock] = []
        self._stop = threading.Event()
        self._last_progress = 0.0

    def progress(self, done: int, total: int | None = None) -> None:
        """Report progress (throttled) and stop the job if a cancel was requested."""
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_S or (total is not None and done >= total):
            self._last_progress = now
            fields: dict[str, Any] = {"done": done}
            if total is not None:
                fields["total"] = total
            self.store.update(self.job_id, **fields)
            self.check_cancelled()

    def check_cancelled(self) -> None:
        """Stop the job (JobCancelled) if a cancel was requested or it already ended (reaped, shut down): call it
        right before a step that cannot be undone, such as publishing."""
        job = self.store.get(self.job_id)
        if job.cancel_requested or job.state.finished:
            raise JobCancelled()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:  # a transient store/lock error must not end the heartbeats of a running job
                self.store.update(self.job_id, heartbeat_at=time.time())
                for lock in list(self.locks):
                    if lock.released:
                        self.locks.remove(lock)
                    else:
                        lock.refresh()
            except Exception:
                logger.exception("heartbeat of job %s failed; retrying", self.job_id)

    def heartbeat_while(self, waiting: Callable[[], bool]) -> None:
        """Until the job ends, send its heartbeat (from a daemon thread) whenever ``waiting()``: a job whose next
        steps wait in a queue (Celery evaluation chunks, the merge) has no running step to send it."""
        def beat() -> None:
            while True:
                try:
                    if self.store.get(self.job_id).state.finished:
                        return
                    if waiting():
                        self.store.update(self.job_id, heartbeat_at=time.time())
                except Exception:
                    logger.exception("heartbeat of waiting job %s failed; retrying", self.job_id)
                time.sleep(HEARTBEAT_EVERY_S)

        threading.Thread(target=beat, daemon=True).start()

    def _start(self) -> bool:
        """queued → running unless a cancel came first (then → cancelled); whether the job is running now (a
        later step, e.g. a chunk, finds it running already)."""
        now = time.time()
        self.store.transition(self.job_id, lambda job: job.state is JobState.queued and not job.cancel_requested,
                              state=JobState.running, started_at=now, heartbeat_at=now)
        job = self.store.get(self.job_id)
        if job.cancel_requested:
            self.store.finish(self.job_id, JobState.cancelled)
            return False
        return job.state is JobState.running

    def run(self, body: Callable[["JobContext"], dict[str, Any] | None], finish: bool = True) -> None:
        """Run ``body`` as this job: running → succeeded / failed / cancelled, with heartbeats. Only an unfinished
        job ends: a job cancelled, reaped or shut down meanwhile keeps the state it was given.

        ``finish=False`` leaves a successful job running (a later step, e.g. a merge, finishes it).
        """
        if not self._start():
            return
        beater = threading.Thread(target=self._beat, daemon=True)
        beater.start()
        try:
            result = body(self)
            if finish:
                self.store.finish(self.job_id, JobState.succeeded, result=result or {})
        except JobCancelled:
            self.store.finish(self.job_id, JobState.cancelled)
        except (SiftragError, TimeoutError) as error:
            self.store.finish(self.job_id, JobState.failed, error=str(error))
        except Exception as error:  # unexpected: keep the job record useful, keep the trace in the log
            traceback.print_exc()
            self.store.finish(self.job_id, JobState.failed, error=f"{type(error).__name__}: {error}")
        finally:
            self._stop.set()
            beater.join()
