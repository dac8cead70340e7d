"""Named retrieval pipelines for batch evaluation: ``bm25``, ``dense``, ``hybrid``."""
from __future__ import annotations

from collections.abc import Callable

from haystack import Document

from core.errors import InvalidInputError
from indexes.retriever import SiftragRetriever
from rag.hybrid import HybridRetriever

BatchSearch = Callable[[list[str], int], list[list[Document]]]
PIPELINES = ("bm25", "dense", "hybrid")


def required_kinds(pipeline: str) -> tuple[str, ...]:
    """The index kinds a pipeline reads."""
    check_pipeline(pipeline)
    return ("bm25", "dense") if pipeline == "hybrid" else (pipeline,)


def check_pipeline(pipeline: str) -> None:
    if pipeline not in PIPELINES:
        raise InvalidInputError(f"Unknown pipeline '{pipeline}': choose one of {', '.join(PIPELINES)}.")


def batch_search(pipeline: str, collection: str, data_dir: str | None = None) -> BatchSearch:
    """A function (queries, top_k) → ranked documents per query, for ``pipeline``."""
    check_pipeline(pipeline)
    if pipeline == "hybrid":
        retriever = HybridRetriever(collection, data_dir=data_dir)
    else:
        retriever = SiftragRetriever(collection, pipeline, data_dir=data_dir)
    return lambda queries, top_k: retriever.run_batch(queries, top_k)
