"""OpenAI-compatible routes: ``POST /v1/chat/completions`` (a RAG answer to the last user message, retrieved for it
rewritten from the conversation when it is a follow-up, written with the system prompt and the earlier turns; the
cited passages as ``citations`` in the message, optionally also as footnotes in the text; streamed as deltas with
the citations in the final chunk, then ``data: [DONE]``) and ``GET /v1/models`` (what ``model`` can name).
``siftrag`` in the response and the ``X-Siftrag-*`` headers say what was searched and which fields were ignored."""
from __future__ import annotations

import json
import string
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from api.auth import CallerDep, require_read
from api.compat_errors import OPENAI_CHAT_PATH
from api.ignored_fields import ignored_header
from api.json_body import ThreadedJSONRoute
from api.openai_schemas import RAG_PREFIX, ChatCompletionRequest, OpenAIError
from api.request_limits import check_answer_limits
from api.schemas import SERVED_LLMS, ErrorOut
from core.errors import SiftragError
from indexes.retriever import collection_manager
from rag.answer_pipeline import AnswerConfig, AnswerPipeline, Prepared

router = APIRouter(prefix="/v1", tags=["compatible"], dependencies=[Depends(require_read)],
                   route_class=ThreadedJSONRoute)
SHOWN_AS_IS = string.punctuation.replace("%", "") + " "  # the retrieval query header: the rest percent-encoded


def _pipeline(body: ChatCompletionRequest) -> tuple[AnswerPipeline, str]:
    """The request's pipeline; an invalid field (422) is reported before a size limit (413)."""
    collection, model = body.target()
    config = AnswerConfig(retriever=body.retriever, top_k=body.top_k, rerank=body.rerank, candidates=body.candidates,
                          compressor=body.compressor, model=model,
                          max_new_tokens=body.max_completion_tokens or body.max_tokens or 128,
                          answer_format=body.answer_format, passage_words=body.passage_words,
                          stop=body.stop_strings(), query_rewrite=body.query_rewrite)
    config.check()
    check_answer_limits(body.question(), body.top_k, body.candidates if body.rerank else 0)
    return AnswerPipeline(collection, config), collection


def _citations(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: c[key] for key in ("n", "id", "title", "source_ids", "source")} for c in result["citations"]]


def _footnotes(citations: list[dict[str, Any]]) -> str:
    """``[n]: title — id`` lines (the title, else the source file and page) after a blank line, or ""."""
    return "\n\n" + "\n".join(map(_footnote, citations)) if citations else ""


def _footnote(citation: dict[str, Any]) -> str:
    source = citation["source"] or {}
    where = source.get("name") if source.get("page") is None else f"{source.get('name')}, p. {source['page']}"
    parts = [" ".join(str(part).split()) for part in (citation["title"] or where, citation["id"]) if part]
    return f"[{citation['n']}]: " + " — ".join(parts)


def _usage(result: dict[str, Any]) -> dict[str, int]:
    prompt, generated = int(result["tokens"]["prompt"]), int(result["tokens"]["generated"])
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def _siftrag(body: ChatCompletionRequest, prepared: Prepared) -> dict[str, Any]:
    """What this service adds at the top level: the retrieval query, the passages the model read, how many earlier
    turns it saw (the oldest go first when the prompt would not fit), the fields ignored."""
    passages = [{"n": n, "id": d.id, "title": (d.meta or {}).get("title"), "score": d.score}
                for n, d in enumerate(prepared.context, 1)]
    used = len(prepared.conversation.turns) if prepared.conversation else 0
    return {"retrieval_query": prepared.retrieval_query, "passages": passages,
            "history_turns": {"given": len(body.conversation().turns), "used": used}, "ignored": body.ignored()}


def _headers(body: ChatCompletionRequest, prepared: Prepared) -> dict[str, str]:
    """``X-Siftrag-Retrieval-Query`` (percent-encoded beyond printable ASCII) and ``X-Siftrag-Ignored``."""
    return {"X-Siftrag-Retrieval-Query": quote(prepared.retrieval_query, safe=SHOWN_AS_IS),
            **ignored_header(body.ignored())}


@router.post(OPENAI_CHAT_PATH.removeprefix("/v1"), summary="Chat completion (OpenAI compatible), answered from a "
             "collection", responses={200: {"content": {"application/json": {}, "text/event-stream": {}}},
                        **{status: {"model": OpenAIError | ErrorOut} for status in (400, 401, 403, 404, 413, 415, 422,
                                                                                   503)}})
async def chat_completions(body: ChatCompletionRequest, who: CallerDep, response: Response) -> Any:
    pipeline, collection = _pipeline(body)
    who.require("read", collection)
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
    prepared = await run_in_threadpool(pipeline.prepare, body.question(), body.conversation())
    extra = _siftrag(body, prepared)
    if body.stream:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **_headers(body, prepared)}
        return StreamingResponse(_chunks(pipeline, prepared, head, body.citation_style, extra),
                                 media_type="text/event-stream", headers=headers)
    result = await run_in_threadpool(pipeline.run_prepared, prepared)
    citations = _citations(result)
    footnotes = _footnotes(citations) if body.citation_style == "footnotes" else ""
    message = {"role": "assistant", "content": result["output"] + footnotes, "citations": citations,
               "unknown_markers": result["unknown_citations"]}
    response.headers.update(_headers(body, prepared))
    if result["unknown_citations"]:
        response.headers["X-Siftrag-Unknown-Markers"] = ", ".join(map(str, result["unknown_citations"]))
    return {**head, "object": "chat.completion", "usage": _usage(result), "siftrag": extra,
            "choices": [{"index": 0, "message": message, "finish_reason": result["finish_reason"]}]}


async def _chunks(pipeline: AnswerPipeline, prepared: Prepared, head: dict[str, Any], citation_style: str,
                  extra: dict[str, Any]) -> AsyncIterator[str]:
    cancel = threading.Event()
    try:
        async for chunk in iterate_in_threadpool(_deltas(pipeline, prepared, cancel, head, citation_style, extra)):
            yield f"data: {json.dumps(chunk)}\n\n"
    except SiftragError as error:  # headers are sent: the failure travels as a chunk
        yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
    finally:
        cancel.set()
    yield "data: [DONE]\n\n"


def _deltas(pipeline: AnswerPipeline, prepared: Prepared, cancel: threading.Event, head: dict[str, Any],
            citation_style: str, extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Chunks whose ``delta.content`` pieces join to exactly the final message: only text that no later token can
    cut is sent (not the newest piece, which may complete the format's end, nor the start of a stop string, nor
    trailing space); the final chunk carries the rest, the footnotes, the citations, the unknown markers, the
    usage and ``siftrag``."""
    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **more: Any) -> dict[str, Any]:
        return {**head, "object": "chat.completion.chunk", **more,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": ""})
    text, sent = "", ""
    for event in pipeline.stream_prepared(prepared, cancel):
        if event["event"] == "token":
            text += event["data"]["text"]
            settled = pipeline.generator.settled(text, event["data"]["text"])
            if len(settled) > len(sent) and settled.startswith(sent):
                yield chunk({"content": settled[len(sent):]})
                sent = settled
        elif event["event"] == "done":
            result = event["data"]
            citations = _citations(result)
            rest = result["output"][len(sent):] if result["output"].startswith(sent) else ""
            footnotes = _footnotes(citations) if citation_style == "footnotes" else ""
            yield chunk({"content": rest + footnotes, "citations": citations,
                         "unknown_markers": result["unknown_citations"]}, result["finish_reason"],
                        usage=_usage(result), siftrag=extra)


@router.get("/models", summary="What `model` can name (OpenAI compatible)")
def models(who: CallerDep) -> dict[str, Any]:
    """The served LLMs and ``rag:NAME`` for each collection this caller may read (as ``GET /v1/collections``)."""
    created = int(time.time())
    readable = [name for name in collection_manager().names() if who.can("read", name)]
    names = [RAG_PREFIX + name for name in readable] + list(SERVED_LLMS)
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "siftrag"}
                                       for name in names]}
