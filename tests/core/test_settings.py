"""Settings come from SIFTRAG_* environment variables."""
from __future__ import annotations

import pytest

from core.settings import Settings


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFTRAG_REDIS_URL", "redis://127.0.0.1:6379/5")
    monkeypatch.setenv("SIFTRAG_MAX_TOP_K", "50")
    monkeypatch.setenv("SIFTRAG_API_KEYS", '["k1", "k2"]')
    settings = Settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/5"
    assert settings.max_top_k == 50
    assert settings.api_keys == ["k1", "k2"]


def test_embedded_default_has_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIFTRAG_REDIS_URL", raising=False)
    assert Settings(_env_file=None).redis_url is None
