"""Expanded passage texts cached by content hash, shared by TILDEv2 training and index builds."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from core.settings import get_settings
from indexes.content_cache import ContentCache, cached_compute
from indexes.contract import ProgressCallback
from indexes.tilde.vocabulary import RULES_VERSION


def expand_with_cache(texts: Sequence[str], top_k: int, expand: Callable[[list[str]], list[str]],
                      progress: ProgressCallback | None = None) -> list[str]:
    """``expand`` applied to the texts not expanded before with this ``top_k``; the rest come from disk."""
    path = get_settings().data_dir / "cache" / f"tilde-expansions-x{top_k}-{RULES_VERSION}.sqlite"
    cache = ContentCache(path, "expansions", ("text",))
    try:
        return cached_compute(texts, cache, expand, to_row=lambda text: (text,), from_row=lambda row: row[0],
                              progress=progress)
    finally:
        cache.close()
