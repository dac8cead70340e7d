"""The Redis build lock: exclusive, and kept alive from the job's heartbeat thread."""
from __future__ import annotations

import threading

import pytest

from core.settings import get_settings
from tests.redis_db import run_redis_url
from workers.locks import exclusive


@pytest.fixture
def redis_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIFTRAG_REDIS_URL", run_redis_url())
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("SIFTRAG_REDIS_URL")
    get_settings.cache_clear()


def test_lock_is_exclusive_and_refreshable_from_another_thread(redis_settings) -> None:
    errors: list[BaseException] = []
    with exclusive("test-lock", wait_s=1) as held:
        def refresh() -> None:
            try:
                held.refresh()
            except BaseException as error:  # reported to the test thread
                errors.append(error)

        heartbeat = threading.Thread(target=refresh)
        heartbeat.start()
        heartbeat.join()
        with pytest.raises(TimeoutError), exclusive("test-lock", wait_s=0.2):
            pass
    assert errors == []
    with exclusive("test-lock", wait_s=0.2):
        pass
