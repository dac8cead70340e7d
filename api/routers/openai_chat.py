"""OpenAI-compatible routes: ``POST /v1/chat/completions`` (a RAG answer to the last user message, with the cited
passages as ``citations`` in the message; streamed as deltas with the citations in the final chunk, then
``data: [DONE]``) and ``GET /v1/models`` (what ``model`` can name)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from api.auth import CallerDep, require_read
from api.compat_errors import OPENAI_CHAT_PATH
from api.json_body import ThreadedJSONRoute
from api.openai_schemas import RAG_PREFIX, ChatCompletionRequest, OpenAIError
from api.request_limits import check_answer_limits
from api.schemas import SERVED_LLMS, ErrorOut
from core.errors import SiftragError
from indexes.retriever import collection_manager
from rag.answer_pipeline import AnswerConfig, AnswerPipeline

router = APIRouter(prefix="/v1", tags=["compatible"], dependencies=[Depends(require_read)],
                   route_class=ThreadedJSONRoute)


def _pipeline(body: ChatCompletionRequest) -> tuple[AnswerPipeline, str]:
    """The request's pipeline; an invalid field (422) is reported before a size limit (413)."""
    collection, model = body.target()
    config = AnswerConfig(retriever=body.retriever, top_k=body.top_k, rerank=body.rerank, candidates=body.candidates,
                          compressor=body.compressor, model=model,
                          max_new_tokens=body.max_completion_tokens or body.max_tokens or 128,
                          answer_format=body.answer_format, passage_words=body.passage_words)
    config.check()
    check_answer_limits(body.question(), body.top_k, body.candidates if body.rerank else 0)
    return AnswerPipeline(collection, config), collection


def _citations(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: c[key] for key in ("n", "id", "title", "source_ids", "source")} for c in result["citations"]]


def _usage(result: dict[str, Any]) -> dict[str, int]:
    prompt, generated = int(result["tokens"]["prompt"]), int(result["tokens"]["generated"])
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


@router.post(OPENAI_CHAT_PATH.removeprefix("/v1"), summary="Chat completion (OpenAI compatible), answered from a "
             "collection", responses={200: {"content": {"application/json": {}, "text/event-stream": {}}},
                        **{status: {"model": OpenAIError | ErrorOut} for status in (400, 401, 403, 404, 413, 415, 422,
                                                                                   503)}})
async def chat_completions(body: ChatCompletionRequest, who: CallerDep) -> Any:
    pipeline, collection = _pipeline(body)
    who.require("read", collection)
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
    if body.stream:
        prepared = await run_in_threadpool(pipeline.prepare, body.question())
        return StreamingResponse(_chunks(pipeline, prepared, head), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    result = await run_in_threadpool(pipeline.run, body.question())
    message = {"role": "assistant", "content": result["output"], "citations": _citations(result)}
    return {**head, "object": "chat.completion", "usage": _usage(result),
            "choices": [{"index": 0, "message": message, "finish_reason": result["finish_reason"]}]}


async def _chunks(pipeline: AnswerPipeline, prepared: Any, head: dict[str, Any]) -> AsyncIterator[str]:
    cancel = threading.Event()
    try:
        async for chunk in iterate_in_threadpool(_deltas(pipeline, prepared, cancel, head)):
            yield f"data: {json.dumps(chunk)}\n\n"
    except SiftragError as error:  # headers are sent: the failure travels as a chunk
        yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
    finally:
        cancel.set()
    yield "data: [DONE]\n\n"


def _deltas(pipeline: AnswerPipeline, prepared: Any, cancel: threading.Event,
            head: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Chunks whose ``delta.content`` pieces join to exactly the final message: each piece is held back one step,
    since the stop rule may cut the last one; the final chunk carries the rest, the citations and the usage."""
    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**head, "object": "chat.completion.chunk", **extra,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": ""})
    sent, held = "", ""
    for event in pipeline.stream_prepared(prepared, cancel):
        if event["event"] == "token":
            piece = held if sent else held.lstrip()  # the final text is stripped
            if piece:
                sent += piece
                yield chunk({"content": piece})
            held = event["data"]["text"]
        elif event["event"] == "done":
            result = event["data"]
            rest = result["output"][len(sent):] if result["output"].startswith(sent) else ""
            yield chunk({"content": rest, "citations": _citations(result)}, result["finish_reason"],
                        usage=_usage(result))


@router.get("/models", summary="What `model` can name (OpenAI compatible)")
def models(who: CallerDep) -> dict[str, Any]:
    """The served LLMs and ``rag:NAME`` for each collection this caller may read (as ``GET /v1/collections``)."""
    created = int(time.time())
    readable = [name for name in collection_manager().names() if who.can("read", name)]
    names = [RAG_PREFIX + name for name in readable] + list(SERVED_LLMS)
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "siftrag"}
                                       for name in names]}
