"""The operator's alias table (``SIFTRAG_MODEL_ALIASES``): a model name another API's client sends (``rerank-v3.5``,
``jina-reranker-v2-base-multilingual``, ``gpt-4o-mini``) stands for one of ours, so clients need no edits besides
their base URL and key. The target is then checked as if the client had sent it."""
from __future__ import annotations

from core.settings import get_settings


def resolve_alias(name: str) -> str:
    """What ``name`` stands for here: its alias target, else itself."""
    return get_settings().model_aliases.get(name, name)
