"""The PostgreSQL catalog's per-name locks under more concurrent operations than the pool has connections (issue 41,
item 11): a lock holder needs more connections while it holds one, so waiters and holders must not share them."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import pytest

from core.errors import NotFoundError
from core.postgres import connection_pool
from core.settings import get_settings
from indexes.collection import CollectionManager
from tests.service_processes import postgres_database

OPERATIONS = 24  # three times the pool's 8 connections


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CollectionManager]:
    with postgres_database() as url:
        monkeypatch.setenv("SIFTRAG_DATABASE_URL", url)
        get_settings.cache_clear()
        yield CollectionManager(tmp_path)
    get_settings.cache_clear()


def test_more_concurrent_creates_and_deletes_than_pool_connections(manager: CollectionManager) -> None:
    assert connection_pool(get_settings().database_url or "").max_size < OPERATIONS
    start = threading.Barrier(OPERATIONS)

    def create_then_delete(i: int) -> str:
        name = f"pool-{i % 3}" if i % 2 else f"pool-own-{i}"  # half contend for three names, half have their own
        start.wait()
        with suppress(NotFoundError):  # another thread deleted the shared name first
            manager.create(name, exist_ok=True)
            manager.delete(name)
        return name

    with ThreadPoolExecutor(OPERATIONS) as pool:
        futures = [pool.submit(create_then_delete, i) for i in range(OPERATIONS)]
        names = [future.result(timeout=60) for future in futures]
    assert len(names) == OPERATIONS and manager.names() == []
