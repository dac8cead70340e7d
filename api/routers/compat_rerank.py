"""Rerank routes in the shapes existing clients speak, served by the same reranker registry as ``/v1/rerank``:
Cohere ``POST /v2/rerank`` (also v1's and Jina's fields; those clients post the same shape to ``/v1/rerank``, which
hands it to :func:`cohere_results`) and Hugging Face TEI ``POST /rerank``. Long documents are cut to
``max_tokens_per_doc`` tokens and chunked by the method's input length; a document scores its best chunk, and each
result (and the ``X-Siftrag-Truncated`` header, a count) says when text was left unscored. Scores are calibrated
probabilities of relevance (``rerankers/relevance_calibration.py``). Errors come in each API's own shape
(``api/compat_errors.py``)."""
from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response

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
from api.deadline import HeaderDeadline, request_deadline, within_or_504
from api.ignored_fields import ignored_header
from api.json_body import ThreadedJSONRoute
from api.request_limits import check_rerank_texts, check_search_limits
from api.schemas import ErrorOut
from core.settings import get_settings
from rerankers.chunked_rerank import ChunkedScore, rerank_chunked
from rerankers.registry import shared_reranker
from rerankers.relevance_calibration import component_model, relevance_scores

router = APIRouter(tags=["compatible"], dependencies=[Depends(require_read)], route_class=ThreadedJSONRoute)
TEI_MAX_TOKENS = 512  # TEI cuts at its model's input length; BERT-size rerankers read 512 tokens
TEI_DEFAULT_METHOD = "embedding"  # fused with BM25 over the given texts (docs/rerankers.md)
TRUNCATED_HEADER = "X-Siftrag-Truncated"


def _errors(shape: type) -> dict[int | str, dict[str, Any]]:
    """Error responses of a compatible route: its API's shape from the route, ours from the middleware."""
    return {status: {"model": shape | ErrorOut, "description": description} for status, description in {
        400: "Malformed request", 401: "Unknown API key", 403: "Cross-site request", 413: "A limit was exceeded",
        415: "Body is not JSON", 422: "Invalid field", 503: "Overloaded or a model is unavailable",
        504: "The deadline (deadline_ms or X-Deadline-Ms) passed before reranking finished; it was stopped"}.items()}


def _scored(model_name: str, query: str, texts: list[str], max_tokens: int | None, max_chunks: int | None,
            response: Response, from_end: bool = False) -> tuple[list[ChunkedScore], list[float], dict[str, Any]]:
    """(chunked scores best first, their calibrated relevance, meta) of ``texts``; the truncation header set."""
    method, model = method_and_model(model_name)
    component = shared_reranker(method, model)
    scores, meta = rerank_chunked(component, query, texts, max_tokens, max_chunks,
                                  get_settings().max_rerank_tokens, from_end)
    relevance, calibrated = relevance_scores(method, component_model(component), [s.model_score for s in scores])
    truncated = sum(s.truncated for s in scores)
    if truncated:
        response.headers[TRUNCATED_HEADER] = str(truncated)
    return scores, relevance, {**meta, "method": method, "model": model, "calibrated": calibrated}


def cohere_results(body: CohereRerankRequest, response: Response) -> dict[str, Any]:
    """The Cohere (v2, v1) / Jina response to ``body``."""
    check_search_limits([body.query], 1)
    texts = body.texts()
    check_rerank_texts(texts, "documents", get_settings().max_rerank_texts)
    response.headers.update(ignored_header(body.ignored()))
    began = time.perf_counter()
    scores, relevance, meta = within_or_504(lambda: _scored(body.model, body.query, texts, body.max_tokens_per_doc,
                                                            body.max_chunks_per_doc, response),
                                            body.deadline_ms, "the reranking")
    results = []
    for scored, probability in list(zip(scores, relevance))[:body.top_n or len(scores)]:
        result: dict[str, Any] = {"index": scored.index, "relevance_score": probability, "raw_score": scored.score,
                                  "chunks": scored.chunks, "truncated": scored.truncated}
        if body.return_documents:
            document = body.documents[scored.index]
            result["document"] = {"text": document} if isinstance(document, str) else document
        results.append(result)
    tokens = meta["document_tokens"] + meta["query_tokens"] * len(texts)
    siftrag = {key: meta[key] for key in ("method", "model", "calibrated", "scored_tokens")}
    return {"id": str(uuid.uuid4()), "model": body.model, "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                     "siftrag": {**siftrag, "rerank_ms": round(1000 * (time.perf_counter() - began), 3)}},
            "usage": {"total_tokens": tokens}}


@router.post(COHERE_PATH, summary="Rerank (Cohere v2 / v1 / Jina compatible)", response_model=CohereRerankResponse,
             responses=_errors(CohereError))
def cohere_rerank(body: CohereRerankRequest, response: Response, header_deadline: HeaderDeadline) -> dict[str, Any]:
    return cohere_results(body.model_copy(update={"deadline_ms": request_deadline(body.deadline_ms,
                                                                                  header_deadline)}), response)


@router.post(TEI_PATH, summary="Rerank (Hugging Face TEI compatible)", response_model=list[TeiResult],
             responses=_errors(TeiError))
def tei_rerank(body: TeiRerankRequest, response: Response, header_deadline: HeaderDeadline) -> list[dict[str, Any]]:
    check_search_limits([body.query], 1)
    check_rerank_texts(body.texts, "texts", get_settings().max_rerank_texts)
    response.headers.update(ignored_header(body.ignored()))
    scores, relevance, _ = within_or_504(
        lambda: _scored(body.model or TEI_DEFAULT_METHOD, body.query, body.texts,
                        TEI_MAX_TOKENS if body.truncate else None, 1 if body.truncate else None, response,
                        from_end=body.truncate and body.truncation_direction == "Left"),
        request_deadline(body.deadline_ms, header_deadline), "the reranking")
    results = []
    for scored, probability in zip(scores, relevance):
        result: dict[str, Any] = {"index": scored.index, "score": scored.score if body.raw_scores else probability,
                                  "chunks": scored.chunks, "truncated": scored.truncated}
        if body.return_text:
            result["text"] = body.texts[scored.index]
        results.append(result)
    return results
