"""Retrievers by name: ``bm25``, ``dense``, ``tilde`` or ``hybrid`` over a collection."""
from __future__ import annotations

from functools import lru_cache

from core.errors import InvalidInputError
from indexes.retriever import SiftragRetriever
from rag.hybrid import HybridRetriever

RETRIEVERS = ("bm25", "dense", "tilde", "hybrid")


def check_retriever(name: str) -> None:
    if name not in RETRIEVERS:
        raise InvalidInputError(f"Unknown retriever '{name}': choose one of {', '.join(RETRIEVERS)}.")


def make_retriever(name: str, collection: str, data_dir: str | None = None) -> SiftragRetriever | HybridRetriever:
    """A retriever component; each has ``run`` (one query) and ``run_batch`` (several)."""
    check_retriever(name)
    if name == "hybrid":
        return HybridRetriever(collection, data_dir=data_dir)
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
    return ("bm25", "dense") if name == "hybrid" else (name,)
