"""The answer pipeline: retrieve → optional rerank → optional compress → generate, with per-stage timings
and token counts. ``run`` answers at once; ``stream`` yields events while the answer is written."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from indexes.retriever import collection_manager
from indexes.sources.citation import source_citation
from rag.answer_generator import AnswerGenerator
from rag.answer_prompt import cited_numbers, unknown_citations
from rag.compressors.compressor import context_tokens
from rag.compressors.registry import check_compressor_options, compressor
from rag.conversation import REWRITES, Conversation, retrieval_query
from rag.retrieval import shared_retriever
from rerankers.registry import check_options, shared_reranker


@dataclass(frozen=True)
class AnswerConfig:
    """How to answer: which index, how many passages, which reranker and compressor, which LLMs."""

    retriever: str = "bm25"
    top_k: int = 5
    rerank: str | None = None
    candidates: int = 20
    compressor: str | None = None
    compressor_options: tuple[tuple[str, Any], ...] = ()
    model: str | None = None  # the answering LLM (and the compressor's, unless its options name one)
    rerank_model: str | None = None  # the LLM of an LLM rerank method (None: the method's default)
    max_new_tokens: int = 64
    answer_format: str = "free"
    passage_words: int | None = None
    min_passages: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop: tuple[str, ...] = ()  # strings that end the answer (not kept in it)
    query_rewrite: str = "history"  # how a follow-up question becomes the retrieval query (rag.conversation)

    def check(self) -> None:
        """InvalidInputError for a bad combination, before anything is loaded."""
        if self.top_k < 0:
            raise InvalidInputError("top_k must be ≥ 0 (0 answers without retrieval).")
        if not 0 <= self.min_passages <= self.top_k:
            raise InvalidInputError("min_passages must be between 0 and top_k.")
        if self.rerank:
            check_options(self.rerank, {"model": self.rerank_model} if self.rerank_model else {})
            if self.candidates < self.top_k:
                raise InvalidInputError("candidates must be ≥ top_k when rerank is set.")
        if self.compressor:
            check_compressor_options(self.compressor, dict(self.compressor_options))
        if self.query_rewrite not in REWRITES:
            raise InvalidInputError(f"query_rewrite must be one of {', '.join(REWRITES)}.")


@dataclass
class Prepared:
    """Everything up to generation: the passages retrieved (for ``retrieval_query``) and the context the LLM will
    read, with the ``conversation`` turns that fit beside it."""

    question: str
    retrieved: list[Document]
    context: list[Document]
    retrieval_query: str = ""
    conversation: Conversation | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    compression: dict[str, Any] | None = None
    rerank: dict[str, Any] | None = None
    began: float = field(default_factory=time.perf_counter)


class AnswerPipeline:
    """Answers questions over one collection with one ``AnswerConfig``."""

    def __init__(self, collection: str, config: AnswerConfig = AnswerConfig()) -> None:
        config.check()
        self.collection = collection
        self.config = config
        self.generator = AnswerGenerator(config.model, config.max_new_tokens, config.answer_format,
                                         config.passage_words, config.repetition_penalty, config.no_repeat_ngram_size,
                                         stop=list(config.stop) or None)

    def prepare(self, question: str, conversation: Conversation | None = None) -> Prepared:
        """Retrieval (for ``question``, or for it rewritten from the ``conversation`` when it is a follow-up),
        rerank and compression."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        config = self.config
        query = retrieval_query(question, conversation, config.query_rewrite) if conversation else question
        prepared = Prepared(question, [], [], query, conversation)
        if config.top_k == 0:
            collection_manager().get(self.collection)  # a closed-book answer still names a real collection
            return self._count(prepared)
        began = time.perf_counter()
        depth = config.candidates if config.rerank else config.top_k
        documents = shared_retriever(config.retriever, self.collection).run(query, depth)["documents"]
        prepared.timings_ms["retrieve"] = _ms(began)
        if len(documents) < config.min_passages:
            raise InvalidInputError(f"Only {len(documents)} passages were found for this question, fewer than "
                                    f"min_passages={config.min_passages}: no answer was written.")
        if config.rerank and documents:
            began = time.perf_counter()
            result = shared_reranker(config.rerank, config.rerank_model, collection=self.collection).run(
                query=query, documents=documents, top_k=config.top_k)
            documents, prepared.rerank = result["documents"], result["meta"]
            prepared.timings_ms["rerank"] = _ms(began)
        prepared.retrieved = documents
        prepared.context = documents
        if config.compressor and documents:
            began = time.perf_counter()
            result = compressor(config.compressor, config.model, config.compressor_options).run(
                query=query, documents=documents)
            prepared.context, prepared.compression = result["documents"], result["meta"]
            prepared.timings_ms["compress"] = _ms(began)
        return self._count(prepared)

    def _count(self, prepared: Prepared) -> Prepared:
        llm = self.generator.llm
        prepared.tokens["retrieved_context"] = context_tokens(llm, prepared.retrieved)
        prepared.tokens["context"] = context_tokens(llm, prepared.context)
        if prepared.conversation:
            prepared.conversation = self.generator.fitted(prepared.question, prepared.context, prepared.conversation)
        prepared.tokens["prompt"] = llm.count_tokens(self.generator.prompt(prepared.question, prepared.context,
                                                                           prepared.conversation))
        return prepared

    def run(self, question: str) -> dict[str, Any]:
        """The answer, the passages it cites, timings (ms) and token counts of every stage."""
        return self.run_prepared(self.prepare(question))

    def run_prepared(self, prepared: Prepared) -> dict[str, Any]:
        """``run`` after ``prepare``."""
        generated = self.generator.run(query=prepared.question, documents=prepared.context,
                                       conversation=prepared.conversation)
        meta = generated["meta"]
        prepared.timings_ms["generate"] = meta["latency_ms"]
        response = self.response(prepared, meta["output"], meta["generated_tokens"], meta["finish_reason"],
                                 meta.get("generation_engine"))
        return {**response, "decision": meta["decision"]} if "decision" in meta else response

    def stream(self, question: str, cancel: threading.Event) -> Iterator[dict[str, Any]]:
        """``prepare`` then ``stream_prepared``."""
        yield from self.stream_prepared(self.prepare(question), cancel)

    def stream_prepared(self, prepared: Prepared, cancel: threading.Event) -> Iterator[dict[str, Any]]:
        """Events: ``context`` (the passages read), ``token`` (text pieces), ``done`` (what ``run`` returns).
        Setting ``cancel`` stops generation at the next token."""
        yield {"event": "context", "data": {"passages": [passage_out(n, d) for n, d in enumerate(prepared.context, 1)],
                                             "timings_ms": prepared.timings_ms, "tokens": prepared.tokens}}
        counter = CallCounter()
        pieces: list[str] = []
        began = time.perf_counter()
        stream = self.generator.stream(prepared.question, prepared.context, cancel, counter, prepared.conversation)
        while True:
            try:
                piece = next(stream)
            except StopIteration as end:
                finish_reason = end.value
                break
            pieces.append(piece)
            yield {"event": "token", "data": {"text": piece}}
        prepared.timings_ms["generate"] = _ms(began)
        yield {"event": "done", "data": self.response(prepared, "".join(pieces), counter.generated_tokens,
                                                      finish_reason, counter.as_dict().get("generation_engine"))}

    def response(self, prepared: Prepared, output: str, generated_tokens: int, finish_reason: str,
                 engine: str | None) -> dict[str, Any]:
        """``answer`` (the final answer of ``short``/``yes-no``, the whole text of ``free``), ``output`` (the
        whole text), the cited passages (``unknown_citations``: numbers that name no passage), timings, tokens,
        and the engine that generated (none when a decision head wrote the whole answer)."""
        context = prepared.context
        output, answer = self.generator.finish(output)
        citations = [passage_out(n, context[n - 1]) for n in cited_numbers(output, len(context))]
        return {
            "answer": answer,
            "output": output,
            "finish_reason": finish_reason,
            "citations": citations,
            "unknown_citations": unknown_citations(output, len(context)),
            "passages": [passage_out(n, d) for n, d in enumerate(context, 1)],
            "compression": prepared.compression,
            "rerank": prepared.rerank,
            "timings_ms": {**prepared.timings_ms, "total": _ms(prepared.began)},
            "tokens": {**prepared.tokens, "generated": generated_tokens},
            "engine": engine,
        }


def passage_out(number: int, document: Document) -> dict[str, Any]:
    """A context passage as the API returns it (CRAG clusters name their source passages; a chunk of an ingested
    file names its file, page and span as ``source``)."""
    meta = document.meta or {}
    return {"n": number, "id": document.id, "title": meta.get("title"), "content": document.content or "",
            "source_ids": meta.get("source_ids", [document.id]), "score": document.score,
            "source": source_citation(meta)}


def _ms(began: float) -> float:
    return round(1000 * (time.perf_counter() - began), 3)
