"""Answer routes: ``/v1/answer`` (the whole answer at once) and ``/v1/answer/stream`` (server-sent events)."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from api.auth import CallerDep, require_read
from api.deadline import DEADLINE_504, HeaderDeadline, request_deadline, within_or_504
from api.json_body import ThreadedJSONRoute
from api.metrics import ANSWER_STREAMS
from api.request_limits import check_answer_limits
from api.schemas import AnswerRequest, AnswerResponse, AnswerStreamRequest
from core.errors import SiftragError
from indexes.retriever import collection_manager
from rag.answer_pipeline import AnswerConfig, AnswerPipeline, passage_out
from rag.dynamic.methods import make_dynamic_answerer

log = logging.getLogger("siftrag.api")
router = APIRouter(prefix="/v1", tags=["answer"], dependencies=[Depends(require_read)],
                   route_class=ThreadedJSONRoute)


def _pipeline(body: AnswerRequest) -> AnswerPipeline:
    """The request's pipeline; an invalid field (422) is reported before a size limit (413)."""
    config = AnswerConfig(retriever=body.retriever, top_k=body.top_k, rerank=body.rerank, candidates=body.candidates,
                          compressor=body.compressor, compressor_options=tuple(sorted(body.compressor_options.items())),
                          model=body.model, rerank_model=body.rerank_model, max_new_tokens=body.max_new_tokens,
                          answer_format=body.answer_format,
                          passage_words=body.passage_words, min_passages=body.min_passages,
                          repetition_penalty=body.repetition_penalty)
    config.check()
    check_answer_limits(body.question, body.top_k, body.candidates if body.rerank else 0)
    return AnswerPipeline(body.collection, config)


@router.post("/answer", response_model=AnswerResponse, responses=DEADLINE_504)
async def answer(body: AnswerRequest, who: CallerDep, header_deadline: HeaderDeadline) -> dict[str, Any]:
    """Retrieve, optionally rerank and compress, then generate an answer citing passages as [n]; or, with
    ``dynamic``, let the policy decide while the model writes when and with which query to retrieve (or, with
    ``dyprag``, answer with the retrieved passages injected as LoRA weights for this request only). Past
    ``deadline_ms`` (or ``X-Deadline-Ms``), a 504, and the work stops."""
    who.require("read", body.collection)
    deadline_ms = request_deadline(body.deadline_ms, header_deadline)
    if body.dynamic:
        return await run_in_threadpool(within_or_504, lambda: _dynamic_answer(body), deadline_ms, "the answer")
    pipeline = _pipeline(body)
    return await run_in_threadpool(within_or_504, lambda: pipeline.run(body.question), deadline_ms, "the answer")


def _dynamic_answer(body: AnswerRequest) -> dict[str, Any]:
    collection_manager().get(body.collection)
    answerer = make_dynamic_answerer(body.collection, body.dynamic or "none", body.retriever, top_k=body.top_k or 3,
                                     model=body.model, max_new_tokens=body.max_new_tokens, translator=body.translator,
                                     answer_format=body.answer_format)
    result = answerer.run(body.question)
    details = result.as_dict()
    passages = [passage_out(n, d) for n, d in enumerate(result.documents, start=1)]
    return {"answer": result.answer, "output": details.pop("output"), "finish_reason": details.pop("finish_reason"),
            "citations": [], "passages": passages, "compression": None,
            "timings_ms": {"total": details.pop("latency_ms")},
            "tokens": {"prompt": details.pop("prompt_tokens"), "generated": details.pop("generated_tokens")},
            "engine": details.pop("generation_engine", None),
            "dynamic": {k: v for k, v in details.items() if k != "answer"}}


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@router.post("/answer/stream", responses={200: {"content": {"text/event-stream": {}}}})
async def answer_stream(body: AnswerStreamRequest, who: CallerDep) -> StreamingResponse:
    """Server-sent events: ``context`` (the passages read), ``token`` (each text piece), ``done`` (the full
    result, as ``/v1/answer`` returns it), or ``error`` if generation fails after the stream started. Bad input
    fails with 4xx before the stream starts; a client that disconnects stops generation at the next token."""
    who.require("read", body.collection)
    pipeline = _pipeline(body)
    prepared = await run_in_threadpool(pipeline.prepare, body.question)
    cancel = threading.Event()

    async def events() -> AsyncIterator[str]:
        outcome = "disconnected"
        try:
            async for event in iterate_in_threadpool(pipeline.stream_prepared(prepared, cancel)):
                yield _event(event["event"], event["data"])
            outcome = "completed"
        except SiftragError as error:  # headers are sent: the failure travels as an event
            outcome = "failed"
            yield _event("error", {"detail": str(error)})
        except Exception as error:
            outcome = "failed"
            log.exception("answer stream failed")
            yield _event("error", {"detail": f"Internal error ({type(error).__name__})."})
        finally:
            cancel.set()
            ANSWER_STREAMS.labels(outcome).inc()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
