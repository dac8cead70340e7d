"""Named pipelines for batch evaluation (``bm25``, ``dense``, ``hybrid``)."""
from __future__ import annotations

from collections.abc import Callable

from haystack import Document

from core.errors import InvalidInputError
from rag.retrieval import RETRIEVERS, index_kinds_of, make_retriever

BatchSearch = Callable[[list[str], int], list[list[Document]]]
PIPELINES = RETRIEVERS


def check_pipeline(pipeline: str) -> None:
    if pipeline not in PIPELINES:
        raise InvalidInputError(f"Unknown pipeline '{pipeline}': choose one of {', '.join(PIPELINES)}.")


def required_kinds(pipeline: str) -> tuple[str, ...]:
    """The index kinds a pipeline reads."""
    check_pipeline(pipeline)
    return index_kinds_of(pipeline)


def batch_search(pipeline: str, collection: str, data_dir: str | None = None) -> BatchSearch:
    """A function (queries, top_k) → ranked documents per query, for ``pipeline``."""
    check_pipeline(pipeline)
    return make_retriever(pipeline, collection, data_dir).run_batch
