"""The LLM cache (issue 41, item 10), with the real bundled model and its shipped adapters: sized by memory, so the
defaults' three models stay loaded together; one load per name under concurrent first use; an evicted model that a
request still holds is reused; the load count is in ``/metrics``."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from api.metrics import REGISTRY
from core.llm_backend import LLM_CACHE, LLMBackend, get_llm
from core.model_cache import load_counts
from core.settings import get_settings

MODEL = "smollm2-135m-instruct"
DEFAULTS = [MODEL, f"{MODEL}+pointwise-smollm2-scifact", f"{MODEL}+reader-general"]  # answers, pointwise, reader


def _loads() -> int:
    return load_counts().get("llm", 0)


@pytest.fixture
def empty_cache() -> Iterator[None]:
    LLM_CACHE.clear()
    yield
    LLM_CACHE.clear()


def test_the_default_models_stay_loaded_together(empty_cache: None) -> None:
    before = _loads()
    for _ in range(2):
        for name in DEFAULTS:
            assert get_llm(name).model_name == name
    assert _loads() - before == 3
    assert LLM_CACHE.held() == DEFAULTS
    assert sum(get_llm(name).memory_bytes for name in DEFAULTS) <= get_settings().llm_cache_mb * 2**20
    exported = generate_latest(REGISTRY).decode()
    assert f'siftrag_model_loads_total{{cache="llm"}} {float(_loads())}' in exported


def test_concurrent_first_use_of_one_name_loads_it_once(empty_cache: None) -> None:
    before = _loads()
    start = threading.Barrier(4)
    got: list[LLMBackend] = []

    def use() -> None:
        start.wait()
        got.append(get_llm(MODEL))

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _loads() - before == 1
    assert len(got) == 4 and all(llm is got[0] for llm in got)


def test_an_evicted_model_still_in_use_is_reused(empty_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFTRAG_LLM_CACHE_MB", "1")  # room for the newest model only
    get_settings.cache_clear()
    try:
        before = _loads()
        in_use = get_llm(MODEL)  # a request still holds it ...
        get_llm(DEFAULTS[1])  # ... while another model pushes it out of the cache
        assert LLM_CACHE.held() == [DEFAULTS[1]]
        assert get_llm(MODEL) is in_use and _loads() - before == 2
        assert LLM_CACHE.held() == [MODEL]
    finally:
        monkeypatch.delenv("SIFTRAG_LLM_CACHE_MB")
        get_settings.cache_clear()
