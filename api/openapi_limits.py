"""The request limits of this server's settings, written into its OpenAPI document (``maximum``, ``maxItems``,
``maxLength``), so that the schema tells clients what the routes accept. ``queries × top_k`` (a product) cannot be
said in JSON Schema: it is in the description, and exceeding it is a 413."""
from __future__ import annotations

from typing import Any

from core.settings import Settings


def limits(settings: Settings) -> dict[str, dict[str, dict[str, int]]]:
    """Per request schema, per property, the JSON Schema keywords to add."""
    rerank = settings.max_rerank_documents
    return {
        "SearchRequest": {"top_k": {"maximum": settings.max_top_k}, "candidates": {"maximum": rerank},
                          "query": {"maxLength": settings.max_query_chars},
                          "queries": {"maxItems": settings.max_batch_queries}},
        "RerankRequest": {"top_k": {"maximum": settings.max_top_k}, "candidates": {"maximum": rerank},
                          "query": {"maxLength": settings.max_query_chars}, "documents": {"maxItems": rerank}},
        "CohereRerankRequest": {"query": {"maxLength": settings.max_query_chars},
                                "documents": {"maxItems": settings.max_rerank_texts}},
        "TeiRerankRequest": {"query": {"maxLength": settings.max_query_chars}, "texts": {
                             "maxItems": settings.max_rerank_texts,
                             "items": {"type": "string", "maxLength": settings.max_document_chars}}},
        "AnswerRequest": {"top_k": {"maximum": min(100, rerank)}, "candidates": {"maximum": rerank},
                          "question": {"maxLength": settings.max_query_chars}},
    }


def add_limits(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``document`` (an OpenAPI dict) with the limits added in place; returns it."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, properties in limits(settings).items():
        for field, keywords in properties.items():
            prop = schemas.get(name, {}).get("properties", {}).get(field)
            if prop is not None:
                prop.update(keywords)
    search = schemas.get("SearchRequest")
    if search is not None:
        search["description"] = (f"At most {settings.max_search_results} results per request (number of queries × "
                                 "top_k, or × candidates when reranking); more is a 413.")
    return document
