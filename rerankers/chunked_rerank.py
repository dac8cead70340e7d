"""Reranking documents longer than a token budget: each document is split into chunks of at most ``max_tokens``
tokens of the method's own tokenizer, every chunk is scored, and a document scores its best chunk (the
max-score aggregation that Cohere's ``max_chunks_per_doc`` and TEI users expect). Each result says how many
chunks it was split into and whether text was dropped (more chunks than ``max_chunks``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haystack import Document

from core.errors import TooLargeError


@dataclass(frozen=True)
class ChunkedScore:
    index: int  # position of the document in the request
    score: float
    chunks: int
    truncated: bool


def split_tokens(text: str, offsets: list[tuple[int, int]], max_tokens: int, max_chunks: int,
                 from_end: bool = False) -> tuple[list[str], bool]:
    """(chunks of ``text`` of at most ``max_tokens`` tokens, cut at token boundaries (``offsets``: each token's
    character span in ``text``), the first ``max_chunks`` of them — the last ones, in text order, ``from_end``;
    whether any were dropped)."""
    if len(offsets) <= max_tokens:
        return [text], False
    ends = range(len(offsets), 0, -max_tokens) if from_end else range(max_tokens, len(offsets) + max_tokens, max_tokens)
    spans = [(max(0, end - max_tokens), min(end, len(offsets))) for end in ends][:max_chunks]
    chunks = [text[offsets[start][0]:offsets[end - 1][1]] for start, end in sorted(spans)]
    return chunks, len(ends) > max_chunks


def rerank_chunked(component: Any, query: str, texts: list[str], max_tokens: int, max_chunks: int,
                   max_scored: int, from_end: bool = False) -> tuple[list[ChunkedScore], dict[str, Any]]:
    """Scores of ``texts`` by ``component`` (a reranker with a ``tokenizer`` and ``max_input_tokens``), best first,
    and the reranker's meta with the document and query token counts. Chunks hold at most ``max_tokens`` tokens and
    never more than the component reads; more than ``max_scored`` chunks in all is a 413."""
    max_tokens = min(max_tokens, component.max_input_tokens)
    tokenizer = component.tokenizer
    encoded = tokenizer([query, *texts], add_special_tokens=False, return_offsets_mapping=True)  # one batched call
    documents, counts, truncated = [], [], []
    for index, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"][1:])):
        chunks, cut = split_tokens(text, offsets, max_tokens, max_chunks, from_end)
        documents += [Document(id=f"{index}:{n}", content=chunk) for n, chunk in enumerate(chunks)]
        counts.append(len(chunks))
        truncated.append(cut)
    if len(documents) > max_scored:
        raise TooLargeError(f"The documents split into {len(documents)} chunks of at most {max_tokens} tokens; at "
                            f"most {max_scored} are scored per request: send fewer or shorter documents, or fewer "
                            "chunks per document.")
    result = component.run(query=query, documents=documents, top_k=len(documents))
    best: dict[int, float] = {}
    for document in result["documents"]:
        owner = int(document.id.split(":")[0])
        best[owner] = max(best.get(owner, float("-inf")), float(document.score))
    order = sorted(best, key=lambda i: (-best[i], i))
    tokens = [len(ids) for ids in encoded["input_ids"]]
    return ([ChunkedScore(i, best[i], counts[i], truncated[i]) for i in order],
            {**result["meta"], "document_tokens": sum(tokens[1:]), "query_tokens": tokens[0]})
