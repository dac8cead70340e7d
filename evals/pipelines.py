"""Named pipelines for batch evaluation: a retriever, optionally followed by a reranker.

``bm25``, ``dense``, ``hybrid`` retrieve; ``bm25>icr`` (any retriever > any rerank method) retrieves
``candidates`` documents and reranks them; ``bm25>first:model=NAME,passage_words=30`` gives that pipeline
its own rerank options. Per-query reranking cost is collected in ``costs``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from haystack import Document

from core.errors import InvalidInputError
from rag.retrieval import RETRIEVERS, index_kinds_of, make_retriever
from rerankers.registry import METHODS, check_options, collection_options, make_reranker, method_spec


def key_values(pairs: list[str], where: str) -> dict[str, Any]:
    """["window=20", "model=m"] → {"window": 20, "model": "m"}: values are JSON when they parse, else strings."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"{where} '{pair}' is not KEY=VALUE.")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def split_options(pipeline: str) -> tuple[str, dict[str, Any]]:
    """"bm25>first:model=m,passage_words=30" → ("bm25>first", {"model": "m", "passage_words": 30}): rerank
    options of one pipeline, so one table can compare configurations."""
    name, _, text = pipeline.partition(":")
    options = key_values([item for item in text.split(",") if item], f"Pipeline '{pipeline}': option")
    if options and ">" not in name:
        raise InvalidInputError(f"Pipeline '{pipeline}': only reranking pipelines take options.")
    return name, options


def pipeline_options(pipeline: str, shared: dict[str, Any]) -> dict[str, Any]:
    """The rerank options of ``pipeline``: the shared ones its method takes (its table entry's ``ignores`` are
    dropped), overridden by its own (which it always gets: ``bm25>tilde:model=NAME`` names a scorer)."""
    name, own = split_options(pipeline)
    method = name.partition(">")[2]
    ignored = method_spec(method).ignores if method in METHODS else ()
    return {**{k: v for k, v in shared.items() if k not in ignored}, **own}


def parse_pipeline(pipeline: str) -> tuple[str, str | None]:
    """"bm25>first" → ("bm25", "first"); "dense" → ("dense", None); options after ":" are ignored here."""
    retriever, _, method = split_options(pipeline)[0].partition(">")
    if retriever not in RETRIEVERS or (method and method not in METHODS) or (_ and not method):
        raise InvalidInputError(
            f"Unknown pipeline '{pipeline}': use a retriever ({', '.join(RETRIEVERS)}), optionally followed by "
            f"'>' and a rerank method ({', '.join(METHODS)}), e.g. bm25>icr."
        )
    return retriever, method or None


def check_pipeline_options(pipeline: str, options: dict[str, Any]) -> None:
    """Reject bad rerank options before any index is built for the pipeline."""
    _, method = parse_pipeline(pipeline)
    if method:
        check_options(method, collection_options(method, "check", pipeline_options(pipeline, options), tuned=False))


def required_kinds(pipeline: str) -> tuple[str, ...]:
    """The index kinds a pipeline reads: its retriever's and its rerank method's (``>tilde`` reranks from the
    stored impacts of the ``tilde`` index; ``>embedding`` from the vectors a ``dense`` build caches)."""
    retriever, method = parse_pipeline(pipeline)
    spec = method_spec(method) if method else None
    rerank_kinds = spec.index_kinds + spec.cached_by if spec else ()
    return tuple(dict.fromkeys(index_kinds_of(retriever) + rerank_kinds))


@dataclass
class PipelineRunner:
    """Callable (queries, top_k) → ranked documents per query; reranking costs land in ``costs``."""

    pipeline: str
    collection: str
    candidates: int = 100
    rerank_options: dict[str, Any] = field(default_factory=dict)
    costs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        name, method = parse_pipeline(self.pipeline)
        self.retriever = make_retriever(name, self.collection)
        options = pipeline_options(self.pipeline, self.rerank_options)
        self.reranker = make_reranker(method, **collection_options(method, self.collection, options)) if method else None

    def __call__(self, queries: list[str], top_k: int,
                 exclude_ids: list[str] | None = None) -> list[list[Document]]:
        """Ranked documents per query. ``exclude_ids[i]`` (BEIR's identical-id convention: the query's own
        id) is removed from query i's first stage, which retrieves one more so the depth is kept."""
        extra = 1 if exclude_ids else 0
        depth = self.candidates if self.reranker is not None else top_k
        candidate_lists = self.retriever.run_batch(queries, depth + extra)
        if exclude_ids:
            candidate_lists = [[d for d in docs if d.id != excluded][:depth]
                               for docs, excluded in zip(candidate_lists, exclude_ids)]
        if self.reranker is None:
            return candidate_lists
        pairs = [(q, docs) for q, docs in zip(queries, candidate_lists) if docs]
        if hasattr(self.reranker, "run_batch") and pairs:
            outputs = self.reranker.run_batch([q for q, _ in pairs], [d for _, d in pairs], top_k=self.candidates)
        else:
            outputs = [self.reranker.run(query=q, documents=d, top_k=self.candidates) for q, d in pairs]
        by_query = {id(docs): out for (_, docs), out in zip(pairs, outputs)}
        self.costs.extend(out["meta"] for out in outputs)
        return [by_query[id(docs)]["documents"][:top_k] if docs else [] for docs in candidate_lists]


def batch_search(pipeline: str, collection: str, candidates: int = 100,
                 rerank_options: dict[str, Any] | None = None) -> PipelineRunner:
    """A runner for ``pipeline`` over ``collection``."""
    return PipelineRunner(pipeline, collection, candidates, dict(rerank_options or {}))
