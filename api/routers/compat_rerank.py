"""Rerank routes in the shapes existing clients speak, served by the same reranker registry as ``/v1/rerank``:
Cohere ``POST /v2/rerank`` (also Jina's ``return_documents`` / ``usage``) and Hugging Face TEI ``POST /rerank``.
Long documents are chunked by the method's tokenizer and score their best chunk; each result says so. Errors come
in each API's own shape (``api/compat_errors.py``)."""
from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends

from api.auth import require_read
from api.compat_errors import COHERE_PATH, TEI_PATH
from api.compat_schemas import (
    CohereError,
    CohereRerankRequest,
    CohereRerankResponse,
    TeiError,
    TeiRerankRequest,
    TeiResult,
    method_and_model,
)
from api.json_body import ThreadedJSONRoute
from api.request_limits import check_rerank_texts, check_search_limits
from api.schemas import ErrorOut
from core.settings import get_settings
from rerankers.chunked_rerank import rerank_chunked
from rerankers.registry import shared_reranker

router = APIRouter(tags=["compatible"], dependencies=[Depends(require_read)], route_class=ThreadedJSONRoute)
TEI_MAX_TOKENS = 512  # TEI cuts at its model's input length; BERT-size rerankers read 512 tokens
TEI_DEFAULT_METHOD = "embedding"  # fused with BM25 over the given texts (docs/rerankers.md)


def _errors(shape: type) -> dict[int | str, dict[str, Any]]:
    """Error responses of a compatible route: its API's shape from the route, ours from the middleware."""
    return {status: {"model": shape | ErrorOut, "description": description} for status, description in {
        400: "Malformed request", 401: "Unknown API key", 403: "Cross-site request", 413: "A limit was exceeded",
        415: "Body is not JSON", 422: "Invalid field", 503: "Overloaded or a model is unavailable"}.items()}


@router.post(COHERE_PATH, summary="Rerank (Cohere v2 / v1 / Jina compatible)", response_model=CohereRerankResponse,
             responses=_errors(CohereError))
def cohere_rerank(body: CohereRerankRequest) -> dict[str, Any]:
    check_search_limits([body.query], 1)
    method, model = method_and_model(body.model)
    texts = body.texts()
    check_rerank_texts(texts, "documents")
    began = time.perf_counter()
    scores, meta = rerank_chunked(shared_reranker(method, model), body.query, texts, body.max_tokens_per_doc,
                                  body.max_chunks_per_doc, get_settings().max_rerank_documents)
    results = []
    for scored in scores[:body.top_n or len(scores)]:
        result: dict[str, Any] = {"index": scored.index, "relevance_score": scored.score, "chunks": scored.chunks,
                                  "truncated": scored.truncated}
        if body.return_documents:
            document = body.documents[scored.index]
            result["document"] = {"text": document} if isinstance(document, str) else document
        results.append(result)
    tokens = meta["document_tokens"] + meta["query_tokens"] * len(texts)
    return {"id": str(uuid.uuid4()), "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                     "siftrag": {"method": method, "model": model, "rerank_ms": round(1000 * (time.perf_counter() -
                                                                                              began), 3)}},
            "usage": {"total_tokens": tokens}}


@router.post(TEI_PATH, summary="Rerank (Hugging Face TEI compatible)", response_model=list[TeiResult],
             responses=_errors(TeiError))
def tei_rerank(body: TeiRerankRequest) -> list[dict[str, Any]]:
    check_search_limits([body.query], 1)
    check_rerank_texts(body.texts, "texts")
    method, model = method_and_model(body.model or TEI_DEFAULT_METHOD)
    scores, _ = rerank_chunked(shared_reranker(method, model), body.query, body.texts, TEI_MAX_TOKENS,
                               1 if body.truncate else 10, get_settings().max_rerank_documents,
                               from_end=body.truncate and body.truncation_direction == "Left")
    results = []
    for scored in scores:
        result: dict[str, Any] = {"index": scored.index, "score": scored.score, "chunks": scored.chunks,
                                  "truncated": scored.truncated}
        if body.return_text:
            result["text"] = body.texts[scored.index]
        results.append(result)
    return results
