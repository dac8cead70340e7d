"""Retrievers by name over a collection: the table of names (cheap to import: the API schemas and the CLI help
read it) and the components."""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from core.errors import InvalidInputError
from indexes.index_kind import KIND_NAMES

if TYPE_CHECKING:
    from indexes.retriever import SiftragRetriever
    from rag.hybrid import HybridRetriever

# name → the index kinds it reads: each index kind alone, and ``hybrid`` (bm25 and dense, fused)
RETRIEVER_KINDS: dict[str, tuple[str, ...]] = {**{kind: (kind,) for kind in KIND_NAMES},
                                               "hybrid": ("bm25", "dense")}
RETRIEVERS = tuple(RETRIEVER_KINDS)


def check_retriever(name: str) -> None:
    if name not in RETRIEVERS:
        raise InvalidInputError(f"Unknown retriever '{name}': choose one of {', '.join(RETRIEVERS)}.")


def make_retriever(name: str, collection: str, data_dir: str | None = None) -> SiftragRetriever | HybridRetriever:
    """A retriever component; each has ``run`` (one query) and ``run_batch`` (several)."""
    check_retriever(name)
    if name == "hybrid":
        from rag.hybrid import HybridRetriever

        return HybridRetriever(collection, data_dir=data_dir)
    from indexes.retriever import SiftragRetriever

    return SiftragRetriever(collection, name, data_dir=data_dir)


@lru_cache(maxsize=1024)
def shared_retriever(name: str, collection: str) -> SiftragRetriever | HybridRetriever:
    """The retriever of the request paths, one per (name, collection) per process: constructing a Haystack component
    parses its signature (~0.4 ms, nearly a whole small BM25 search). Not for a ``Pipeline``, which owns its
    components: use ``make_retriever`` there."""
    return make_retriever(name, collection)


def index_kinds_of(name: str) -> tuple[str, ...]:
    """The index kinds a retriever reads."""
    check_retriever(name)
    return RETRIEVER_KINDS[name]
