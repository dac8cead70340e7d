"""The job record shared by the Redis and SQLite job stores, the API and the CLI."""
from __future__ import annotations

import time
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

HEARTBEAT_EVERY_S = 2.0
STALE_AFTER_S = 20.0


class JobState(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.succeeded, JobState.failed, JobState.cancelled)


class Job(BaseModel):
    """A long operation (build, ingest, evaluation) as stored and as returned by the API."""

    id: str
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    state: JobState = JobState.queued
    done: int = 0
    total: int | None = None
    stage: str | None = Field(default=None, description="the step a job of several steps is in; done/total count it")
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    cancel_requested: bool = False
    runner: str | None = Field(default=None, description="embedded runner that holds the job: 'embedded:HOST:PID'")

    def is_stale(self, now: float | None = None) -> bool:
        """Running, but its worker stopped sending heartbeats (killed or lost)."""
        if self.state is not JobState.running:
            return False
        last = self.heartbeat_at or self.started_at or self.created_at
        return (now or time.time()) - last > STALE_AFTER_S


class JobCancelled(Exception):
    """Raised inside a job when a cancel was requested; the job ends as ``cancelled``."""
