"""Reranking documents longer than a method reads, as Cohere does: each document is cut to ``max_tokens`` tokens of
the method's own tokenizer (the first ones, or the last ones ``from_end``), split into chunks of the method's input
length, every chunk is scored, and a document scores its best chunk. The request's limit is on the tokens of all
chunks together (``max_rerank_tokens``), not on a count of chunks. Each result says how many chunks it was split into
and whether text was left unscored."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haystack import Document

from core.errors import TooLargeError
from rerankers.ranked_documents import MODEL_SCORE


@dataclass(frozen=True)
class ChunkedScore:
    index: int  # position of the document in the request
    score: float  # the method's score of its best chunk
    model_score: float | None  # that chunk's score before fusion with the first stage
    chunks: int
    truncated: bool


def chunk_spans(tokens: int, chunk_tokens: int, max_tokens: int | None, max_chunks: int | None,
                from_end: bool = False) -> tuple[list[tuple[int, int]], bool]:
    """(token spans ``[start, end)`` of the chunks of a ``tokens``-long text, in text order: the first (last
    ``from_end``) ``max_tokens`` tokens in chunks of ``chunk_tokens``, at most ``max_chunks`` of them; whether any
    token is left out)."""
    kept = min(tokens, max_tokens) if max_tokens else tokens
    first = tokens - kept if from_end else 0
    spans = [(start, min(start + chunk_tokens, first + kept)) for start in range(first, first + kept, chunk_tokens)]
    if max_chunks is not None and len(spans) > max_chunks:
        spans = spans[-max_chunks:] if from_end else spans[:max_chunks]
    covered = sum(end - start for start, end in spans)
    return spans or [(0, 0)], covered < tokens


def rerank_chunked(component: Any, query: str, texts: list[str], max_tokens: int | None, max_chunks: int | None,
                   max_total_tokens: int, from_end: bool = False) -> tuple[list[ChunkedScore], dict[str, Any]]:
    """Scores of ``texts`` by ``component`` (a reranker with a ``tokenizer`` and ``max_input_tokens``), best first,
    and the reranker's meta with the document and query token counts and the tokens scored. More than
    ``max_total_tokens`` chunk tokens in all is a 413, before any model runs."""
    chunk_tokens = component.max_input_tokens
    encoded = component.tokenizer([query, *texts], add_special_tokens=False, return_offsets_mapping=True)
    documents, counts, truncated, scored = [], [], [], 0
    for index, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"][1:])):
        spans, cut = chunk_spans(len(offsets), chunk_tokens, max_tokens, max_chunks, from_end)
        if not cut and len(spans) == 1:
            documents.append(Document(id=f"{index}:0", content=text))
        else:
            documents += [Document(id=f"{index}:{n}", content=text[offsets[start][0]:offsets[end - 1][1]])
                          for n, (start, end) in enumerate(spans)]
        scored += sum(end - start for start, end in spans)
        counts.append(len(spans))
        truncated.append(cut)
    if scored > max_total_tokens:
        raise TooLargeError(f"The documents hold {scored} tokens to score (after cutting each to max_tokens_per_doc); "
                            f"at most {max_total_tokens} are scored per request (max_rerank_tokens): send fewer or "
                            "shorter documents, or a lower max_tokens_per_doc.")
    result = component.run(query=query, documents=documents, top_k=len(documents))
    best: dict[int, Document] = {}
    for document in result["documents"]:  # best first: a document's first chunk here is its best
        best.setdefault(int(document.id.split(":")[0]), document)
    order = sorted(best, key=lambda i: (-float(best[i].score), i))
    tokens = [len(ids) for ids in encoded["input_ids"]]
    return ([ChunkedScore(i, float(best[i].score), best[i].meta.get(MODEL_SCORE), counts[i], truncated[i])
             for i in order],
            {**result["meta"], "document_tokens": sum(tokens[1:]), "query_tokens": tokens[0],
             "scored_tokens": scored})
