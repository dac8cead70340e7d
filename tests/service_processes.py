"""Start the real service for tests: a Celery worker and the uvicorn API, over the real Redis (this run's own
database, ``tests/redis_db.py``)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.redis_db import run_redis_url

API_KEY = "test-admin-key"


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "SIFTRAG_DATA_DIR": str(data_dir), "SIFTRAG_REDIS_URL": run_redis_url(),
            "SIFTRAG_API_KEYS": f'["{API_KEY}"]', **extra}


def start_worker(data_dir: Path, concurrency: int = 2, **extra: str) -> subprocess.Popen:
    """A Celery worker in its own process group (so a test can kill master and children at once)."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), "worker", "--concurrency", str(concurrency)],
        cwd=REPO, env=service_env(data_dir, **extra), start_new_session=True,
    )
    from workers.celery_app import make_celery

    app = make_celery(run_redis_url())
    deadline = time.time() + 90
    while time.time() < deadline:
        assert process.poll() is None, "worker exited during start-up"
        if app.control.ping(timeout=0.5):
            return process
    raise RuntimeError("Celery worker did not answer ping within 90 s")


def start_api(data_dir: Path, port: int, **extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), "serve", "--port", str(port)],
        cwd=REPO, env=service_env(data_dir, **extra), start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        assert process.poll() is None, "API exited during start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("API did not become healthy within 60 s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def milvus_lite_server(folder: Path) -> Iterator[str]:
    """``python -m milvus_lite server`` (the real engine, as a server hosts can share) on a free port; its URI."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "server.db"),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while True:
        assert process.poll() is None, "the Milvus Lite server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "the Milvus Lite server did not start"
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL (every machine of ours runs one), dropped afterwards; its URL.
    Skips the test with a sentence where the server is not running."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432 ({error}); these machines normally have it")
    name = f"siftrag_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        from core.postgres import close_pool

        close_pool(f"{POSTGRES_SERVER}/{name}")
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()
