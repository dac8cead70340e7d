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
    assert [(k.key, k.role, k.collections) for k in settings.api_keys] == [("k1", "admin", ("*",)),
                                                                          ("k2", "admin", ("*",))]


def test_scoped_keys_and_plain_keys_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFTRAG_API_KEYS", '["plain", {"key": "tenant-a-reader", "role": "read", '
                                           '"collections": ["tenant-a-*"]}]')
    plain, scoped = Settings().api_keys
    assert plain.allows("admin") and plain.reaches("anything")
    assert scoped.allows("read") and not scoped.allows("write")
    assert scoped.reaches("tenant-a-docs") and not scoped.reaches("tenant-b-docs")


@pytest.mark.parametrize("keys", ['[""]', '["ok", "  "]', '[{"key": "", "role": "read"}]'])
def test_an_empty_api_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("SIFTRAG_API_KEYS", keys)
    with pytest.raises(ValueError, match="empty key"):
        Settings()


def test_embedded_default_has_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIFTRAG_REDIS_URL", raising=False)
    assert Settings(_env_file=None).redis_url is None
