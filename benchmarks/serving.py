"""Start a server for a benchmark and wait until it answers ``/healthz`` (or any GET on ``probe``)."""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def running_server(command: list[str], port: int, env: dict[str, str] | None = None,
                   probe: str = "/healthz") -> Iterator[str]:
    """The base URL of ``command`` (started in the repository, stopped on exit) once it answers on ``port``."""
    with running_process(command, port, env, probe) as (base, _):
        yield base


@contextmanager
def running_process(command: list[str], port: int, env: dict[str, str] | None = None,
                    probe: str = "/healthz") -> Iterator[tuple[str, subprocess.Popen]]:
    """(base URL, process) of ``command`` once it answers on ``port`` (for a benchmark that reads its memory)."""
    server = subprocess.Popen(command, cwd=REPO, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}{probe}")
                break
            except httpx.HTTPError:
                assert server.poll() is None, f"{command} exited during start-up"
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        server.wait()
