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
    """Progress callback + heartbeat for one job. ``heartbeat`` also keeps held locks alive."""

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
        if self.store.get(self.job_id).cancel_requested:
            raise JobCancelled()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:  # a transient store/lock error must not end the heartbeats of a running job
                self.store.update(self.job_id, heartbeat_at=time.time())
                for lock in self.locks:
                    lock.refresh()
            except Exception:
                logger.exception("heartbeat of job %s failed; retrying", self.job_id)

    def run(self, body: Callable[["JobContext"], dict[str, Any] | None], finish: bool = True) -> None:
        """Run ``body`` as this job: running → succeeded / failed / cancelled, with heartbeats.

        ``finish=False`` leaves a successful job running (a later step, e.g. a merge, finishes it).
        """
        job = self.store.get(self.job_id)
        if job.state.finished:
            return
        if job.cancel_requested:
            self.store.update(self.job_id, state=JobState.cancelled, finished_at=time.time())
            return
        now = time.time()
        if job.state is JobState.queued:
            self.store.update(self.job_id, state=JobState.running, started_at=now, heartbeat_at=now)
        beater = threading.Thread(target=self._beat, daemon=True)
        beater.start()
        try:
            result = body(self)
            if finish:
                self.store.update(self.job_id, state=JobState.succeeded, result=result or {},
                                  finished_at=time.time())
        except JobCancelled:
            if not self.store.get(self.job_id).state.finished:  # a shutdown already marked it failed
                self.store.update(self.job_id, state=JobState.cancelled, finished_at=time.time())
        except (SiftragError, TimeoutError) as error:
            self.store.update(self.job_id, state=JobState.failed, error=str(error), finished_at=time.time())
        except Exception as error:  # unexpected: keep the job record useful, keep the trace in the log
            traceback.print_exc()
            self.store.update(self.job_id, state=JobState.failed, error=f"{type(error).__name__}: {error}",
                              finished_at=time.time())
        finally:
            self._stop.set()
            beater.join()
