"""Job states under races (issue 41, item 11), on the real stores: Redis (db 13) and SQLite. A finished job's state
never changes, a cancel that said "cancelled" is final, a build checks for cancellation right before publishing,
SQLite updates from several processes are never lost, and released locks leave the heartbeat."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import get_settings
from tests.conftest import REPO
from tests.redis_db import run_redis_url
from workers.job_context import JobContext
from workers.job_model import HEARTBEAT_EVERY_S, JobState
from workers.job_store import JobStore, RedisJobStore, SqliteJobStore
from workers.locks import exclusive
from workers.runner import EmbeddedRunner


@pytest.fixture(params=["redis", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    return RedisJobStore(run_redis_url()) if request.param == "redis" else SqliteJobStore(tmp_path / "jobs.sqlite")


def test_a_job_shut_down_while_running_stays_failed(store: JobStore) -> None:
    runner = EmbeddedRunner(store, workers=1)
    job = store.create("build", {}, runner=runner.runner_id)

    def body(ctx: JobContext) -> dict:
        runner.shutdown()  # the server stops while the body runs; the body still returns normally
        return {"published": True}

    JobContext(store, job.id).run(body)
    ended = store.get(job.id)
    assert ended.state is JobState.failed and "shut down" in ended.error and ended.result is None


def test_a_cancel_that_said_cancelled_is_final(store: JobStore) -> None:
    """cancel() races the start of the job; whenever it answered 'cancelled', the body never ran."""
    runner = EmbeddedRunner(store, workers=1)
    runner.pool.shutdown()  # this test starts the jobs itself
    lost = []
    for _ in range(150):
        job = store.create("build", {})
        ran = threading.Event()
        start = threading.Barrier(2)

        def work(job_id: str = job.id, ran: threading.Event = ran, start: threading.Barrier = start) -> None:
            start.wait()
            JobContext(store, job_id).run(lambda ctx: ran.set())

        worker = threading.Thread(target=work)
        worker.start()
        start.wait()
        told = runner.cancel(job.id).state
        worker.join()
        final = store.get(job.id).state
        if told is JobState.cancelled and (ran.is_set() or final is not JobState.cancelled):
            lost.append((told, final, ran.is_set()))
        assert final in (JobState.cancelled, JobState.succeeded)
    assert lost == []


@pytest.fixture
def embedded(data_dir: Path) -> Iterator[EmbeddedRunner]:
    runner = EmbeddedRunner(SqliteJobStore(data_dir / "jobs.sqlite"), workers=1)
    yield runner
    runner.pool.shutdown(wait=True)


def test_a_build_checks_for_cancellation_right_before_publishing(embedded: EmbeddedRunner) -> None:
    """The cancel arrives after the builder's last progress check, while the publish waits for the collection lock:
    nothing is published and the job ends cancelled."""
    from haystack import Document

    from indexes.retriever import collection_manager

    manager = collection_manager()
    collection = manager.create("cancel-at-publish")
    collection.store.upsert([Document(id=str(i), content=f"passage {i} about topic {i % 5}") for i in range(50)])
    with manager.catalog.lock("cancel-at-publish"):
        job = embedded.submit("build", {"collection": "cancel-at-publish", "kind": "bm25"})
        deadline = time.time() + 60
        while (current := embedded.store.get(job.id)).total is None or current.done < current.total:
            assert time.time() < deadline and current.state is not JobState.failed, current
            time.sleep(0.05)
        time.sleep(0.5)  # the builder has returned; the publish waits for the lock this test holds
        assert embedded.cancel(job.id).state is JobState.running
    while not (ended := embedded.store.get(job.id)).state.finished:
        time.sleep(0.05)
    assert ended.state is JobState.cancelled, ended
    assert collection.status()["indexes"]["bm25"]["live_version"] is None
    manager.delete("cancel-at-publish")


WRITER = """
import sys
from pathlib import Path
from workers.job_store import SqliteJobStore

store = SqliteJobStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.advance(sys.argv[2], 1)
    store.update(sys.argv[2], **{sys.argv[4]: i})
"""


def test_sqlite_updates_from_several_processes_are_not_lost(tmp_path: Path) -> None:
    """Like ``serve --workers 3`` or the CLI beside the API: three processes update one job at once."""
    path = tmp_path / "jobs.sqlite"
    job = SqliteJobStore(path).create("evaluate", {})
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), job.id, "150", field], cwd=REPO)
               for field in ("started_at", "heartbeat_at", "finished_at")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    done = SqliteJobStore(path).get(job.id)
    assert done.done == 450
    assert done.started_at == done.heartbeat_at == done.finished_at == 149


@pytest.fixture
def redis_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SIFTRAG_REDIS_URL", run_redis_url())
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("SIFTRAG_REDIS_URL")
    get_settings.cache_clear()


def test_released_locks_leave_the_heartbeat(redis_settings: None, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisJobStore(run_redis_url())
    job = store.create("build", {})
    held = []

    def body(ctx: JobContext) -> None:
        with exclusive(f"test-prune/{job.id}", wait_s=1) as lock:
            ctx.locks.append(lock)
            time.sleep(HEARTBEAT_EVERY_S * 1.5)  # refreshed while held
        time.sleep(HEARTBEAT_EVERY_S * 2.5)  # two more heartbeats after the release
        held.extend(ctx.locks)

    with caplog.at_level(logging.ERROR, logger="workers.job_context"):
        JobContext(store, job.id).run(body)
    assert store.get(job.id).state is JobState.succeeded
    assert held == [] and caplog.records == []
