"""Query routes: search (one query or a batch) and rerank."""
from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from haystack import Document

from api.auth import CallerDep, require_read
from api.compat_schemas import CohereRerankRequest, CohereRerankResponse
from api.deadline import DEADLINE_504, HeaderDeadline, request_deadline
from api.json_body import ThreadedJSONRoute
from api.json_stream import json_response
from api.request_limits import check_rerank_documents, check_rerank_texts, check_search_limits
from api.rerank_body import RerankBody
from api.routers.compat_rerank import cohere_results
from api.schemas import RerankResponse, SearchRequest, SearchResponse
from core.deadline import run_within
from rag.retrieval import shared_retriever
from rerankers.ranked_documents import MODEL_SCORE
from rerankers.registry import shared_reranker
from rerankers.relevance_calibration import component_model, relevance_scores

router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(require_read)],
                   route_class=ThreadedJSONRoute)
INLINE_RESULTS = 100  # a single BM25 search this small takes well under a millisecond
STREAM_ABOVE_RESULTS = 1000  # larger responses are encoded per query (see api/json_stream.py)


def _document_out(document: Document) -> dict[str, Any]:
    return {"id": document.id, "content": document.content or "", "meta": document.meta or {},
            "score": document.score}


def _reranked_out(documents: list[Document], candidates: list[Document]) -> list[dict[str, Any]]:
    """Reranked documents, each with its rank (1-based) and score in the first stage's list."""
    first_stage = {d.id: (rank, d.score) for rank, d in enumerate(candidates, start=1)}
    return [{**_document_out(d), "first_stage_rank": first_stage[d.id][0], "first_stage_score": first_stage[d.id][1]}
            for d in documents]


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, who: CallerDep, header_deadline: HeaderDeadline) -> Response:
    """One query or a batch. Retrieval, reranking and the JSON encoding run on worker threads (the event loop
    stays free for other requests), except a single small BM25 search, which is cheaper inline."""
    who.require("read", body.collection)
    body = body.model_copy(update={"deadline_ms": request_deadline(body.deadline_ms, header_deadline)})
    queries = body.all_queries()
    check_search_limits(queries, body.top_k)
    depth = body.candidates if body.rerank else body.top_k
    component = None
    if body.rerank:
        component = shared_reranker(body.rerank, collection=body.collection)
        check_search_limits(queries, depth, "candidates")
        check_rerank_documents(depth, "candidates")
    if body.retriever == "bm25" and not body.rerank and len(queries) * depth <= INLINE_RESULTS:
        return _search(body, queries, depth, component)
    return await run_in_threadpool(_search, body, queries, depth, component)


def _search(body: SearchRequest, queries: list[str], depth: int, component: Any) -> Response:
    began = time.perf_counter()
    ranked = shared_retriever(body.retriever, body.collection).run_batch(queries, depth, body.filters)
    timings = {"retrieve": round(1000 * (time.perf_counter() - began), 3)}
    rerank_meta = []
    partial = False
    if component is not None:
        began = time.perf_counter()
        outputs = run_within(lambda: [component.run(query=q, documents=docs, top_k=body.top_k) if docs else
                                      {"documents": [], "meta": {}} for q, docs in zip(queries, ranked)],
                             _remaining_ms(body.deadline_ms, timings["retrieve"]))
        partial = outputs is None
        if partial:  # the deadline passed: the first stage's order, cut to top_k
            outputs = [{"documents": docs[:body.top_k], "meta": {}} for docs in ranked]
        results = [_reranked_out(out["documents"], docs) for out, docs in zip(outputs, ranked)]
        rerank_meta = [out["meta"] for out in outputs]
        timings["rerank"] = round(1000 * (time.perf_counter() - began), 3)
    else:
        results = [[_document_out(d) for d in docs] for docs in ranked]
    payload: dict[str, Any] = {
        "retriever": body.retriever,
        "results": [{"query": q, "documents": docs} for q, docs in zip(queries, results)],
        "timings_ms": timings,
    }
    if component is not None:
        payload["rerank"] = {"method": body.rerank, "meta": rerank_meta, "partial": partial}
    return json_response(payload, "results", STREAM_ABOVE_RESULTS)  # small ones rendered here, on the thread


@router.post("/rerank", response_model=RerankResponse | CohereRerankResponse, responses=DEADLINE_504)
def rerank(body: RerankBody, who: CallerDep, response: Response, header_deadline: HeaderDeadline) -> dict[str, Any]:
    """Ours (a method, candidates inline or from a collection; scores calibrated, ``meta.raw_score`` the method's
    own), or the Cohere v1 / Jina shape their clients post here (answered in that shape; past its deadline, a
    504)."""
    body = body.model_copy(update={"deadline_ms": request_deadline(body.deadline_ms, header_deadline)})
    if isinstance(body, CohereRerankRequest):
        return cohere_results(body, response)
    who.require("read", body.collection)
    check_search_limits([body.query], body.top_k)
    check_search_limits([body.query], body.candidates, "candidates")  # validated even when documents come inline
    check_rerank_documents(body.candidates, "candidates")
    timings: dict[str, float] = {}
    if body.documents is not None:
        check_rerank_texts([d.content for d in body.documents], "documents")
        candidates = [Document(id=d.id, content=d.content, meta=d.meta, score=d.score) for d in body.documents]
    else:
        began = time.perf_counter()
        candidates = shared_retriever(body.retriever, body.collection).run_batch([body.query], body.candidates)[0]
        timings["retrieve"] = round(1000 * (time.perf_counter() - began), 3)
    check_rerank_documents(len(candidates))
    began = time.perf_counter()
    component = shared_reranker(body.method, body.model, body.passage_words, body.collection)
    result = run_within(lambda: component.run(query=body.query, documents=candidates, top_k=body.top_k),
                        _remaining_ms(body.deadline_ms, timings.get("retrieve", 0.0)))
    timings["rerank"] = round(1000 * (time.perf_counter() - began), 3)
    if result is None:  # the deadline passed: the candidates in their first-stage order
        return {"method": body.method, "documents": _reranked_out(candidates[:body.top_k], candidates),
                "meta": {"method": body.method}, "timings_ms": timings, "partial": True}
    relevance, calibrated = relevance_scores(body.method, component_model(component),
                                             [d.meta.get(MODEL_SCORE) for d in result["documents"]])
    documents = [Document(id=d.id, content=d.content, score=probability, meta={**d.meta, "raw_score": d.score})
                 for d, probability in zip(result["documents"], relevance)]
    return {"method": body.method, "documents": _reranked_out(documents, candidates),
            "meta": {**result["meta"], "calibrated": calibrated}, "timings_ms": timings, "partial": False}


def _remaining_ms(deadline_ms: int | None, spent_ms: float) -> int | None:
    """What is left of the request's deadline for reranking (None: no deadline)."""
    return None if deadline_ms is None else max(0, int(deadline_ms - spent_ms))
