"""The operator's limits on a request's size (settings ``max_*``), checked by every route before any work:
413 for too much, 422 for a value over a maximum."""
from __future__ import annotations

from core.errors import InvalidInputError, TooLargeError
from core.settings import get_settings


def check_search_limits(queries: list[str], top_k: int, field: str = "top_k") -> None:
    """Batch size, ``top_k`` (or ``candidates``), results per request and query length."""
    settings = get_settings()
    if len(queries) > settings.max_batch_queries:
        raise TooLargeError(f"{len(queries)} queries exceed the batch limit of {settings.max_batch_queries}.")
    if top_k > settings.max_top_k:
        raise InvalidInputError(f"{field}: {top_k} exceeds the maximum of {settings.max_top_k}.")
    if len(queries) * top_k > settings.max_search_results:
        raise TooLargeError(f"{len(queries)} queries × {field} {top_k} = {len(queries) * top_k} results exceed the "
                            f"limit of {settings.max_search_results} per request.")
    for query in queries:
        if len(query) > settings.max_query_chars:
            raise TooLargeError(f"A query of {len(query)} characters exceeds the limit of {settings.max_query_chars}.")


def check_rerank_documents(count: int, field: str | None = None) -> None:
    """At most ``max_rerank_documents`` documents go to a reranker: a request ``field`` over it (the schema
    publishes that maximum) is a 422; more documents than that in the request body are a 413."""
    limit = get_settings().max_rerank_documents
    if count > limit and field is not None:
        raise InvalidInputError(f"{field}: {count} exceeds the rerank limit of {limit}.")
    if count > limit:
        raise TooLargeError(f"{count} documents exceed the rerank limit of {limit} (max_rerank_documents).")


def check_rerank_texts(texts: list[str], field: str, max_count: int | None = None) -> None:
    """Before any tokenizing: the document count (``max_count``, default ``max_rerank_documents``), each
    document's length (``max_document_chars``) and their total (``max_rerank_chars``); over any of them is a 413."""
    settings = get_settings()
    if max_count is None:
        check_rerank_documents(len(texts))
    elif len(texts) > max_count:
        raise TooLargeError(f"{len(texts)} documents exceed the limit of {max_count} per request (max_rerank_texts).")
    for number, text in enumerate(texts):
        if len(text) > settings.max_document_chars:
            raise TooLargeError(f"{field}.{number}: {len(text)} characters exceed the limit of "
                                f"{settings.max_document_chars} per document (max_document_chars).")
    total = sum(map(len, texts))
    if total > settings.max_rerank_chars:
        raise TooLargeError(f"{field}: {total} characters in all exceed the limit of {settings.max_rerank_chars} "
                            "per rerank request (max_rerank_chars).")


def check_answer_limits(question: str, top_k: int, candidates: int) -> None:
    """A question longer than the query limit, or more passages (``candidates`` when reranking) than the rerank
    limit."""
    settings = get_settings()
    if len(question) > settings.max_query_chars:
        raise TooLargeError(f"A question of {len(question)} characters exceeds the limit of "
                            f"{settings.max_query_chars}.")
    if max(top_k, candidates) > settings.max_rerank_documents:
        raise TooLargeError(f"More than {settings.max_rerank_documents} passages per question are not accepted.")
