"""BM25 with bm25s (Lucene scoring, Snowball English stemmer, English stopwords)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenizer

from indexes.contract import Hits, ProgressCallback

# Pyserini's BEIR "flat" settings (k1=0.9, b=0.4), which give SciFact nDCG@10 0.679.
DEFAULT_K1 = 0.9
DEFAULT_B = 0.4


def make_tokenizer() -> Tokenizer:
    return Tokenizer(stemmer=Stemmer.Stemmer("english").stemWord, stopwords="en")


def bm25_scores(query: str, texts: Sequence[str]) -> np.ndarray:
    """BM25 scores of ``texts`` for ``query``, with term statistics from ``texts`` alone (the lexical signal of a
    candidate list that arrives without first-stage scores); zeros when the query has no indexable term."""
    tokenizer = make_tokenizer()
    retriever = bm25s.BM25(k1=DEFAULT_K1, b=DEFAULT_B, method="lucene")
    retriever.index(tokenizer.tokenize(list(texts), return_as="ids", show_progress=False), show_progress=False)
    unknown = tokenizer.get_vocab_dict().get("")  # what a word no text contains maps to
    query_ids = [token for token in tokenizer.tokenize([query], update_vocab=False, return_as="ids",
                                                       show_progress=False)[0] if token != unknown]
    if not query_ids:
        return np.zeros(len(texts))
    return np.asarray(retriever.get_scores(query_ids), dtype=np.float64)


def bm25_rankings(corpus: dict[str, str], queries: dict[str, str], depth: int) -> dict[str, list[str]]:
    """Per query id, the ids of the top-``depth`` passages of an in-memory BM25 over ``corpus`` (the ``bm25``
    kind's tokenizer and parameters), best first."""
    doc_ids = list(corpus)
    tokenizer = make_tokenizer()
    retriever = bm25s.BM25(k1=DEFAULT_K1, b=DEFAULT_B, method="lucene")
    retriever.index(tokenizer.tokenize([corpus[d] for d in doc_ids], return_as="ids", show_progress=False),
                    show_progress=False)
    query_ids = list(queries)
    tokens = tokenizer.tokenize([queries[q] for q in query_ids], update_vocab=False, return_as="ids",
                                show_progress=False)
    rows, _ = retriever.retrieve(tokens, k=min(depth, len(doc_ids)), show_progress=False, n_threads=0)
    return {query_id: [doc_ids[r] for r in row_ids] for query_id, row_ids in zip(query_ids, rows)}


class LoadedBm25:
    """A bm25s retriever with its vocabulary and the doc ids of its rows."""

    def __init__(self, retriever: bm25s.BM25, tokenizer: Tokenizer, doc_ids: list[str]) -> None:
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.doc_ids = doc_ids

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        k = min(top_k, len(self.doc_ids))
        tokens = self.tokenizer.tokenize(list(queries), update_vocab=False, return_as="ids", show_progress=False)
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return [
            [(self.doc_ids[row], float(score)) for row, score in zip(row_ids, row_scores) if score > 0]
            for row_ids, row_scores in zip(rows, scores)
        ]


class Bm25Kind:
    name = "bm25"

    def build(
        self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], out_dir: Path,
        progress: ProgressCallback | None, options: dict[str, Any],
    ) -> dict[str, Any]:
        k1 = float(options.get("k1", DEFAULT_K1))
        b = float(options.get("b", DEFAULT_B))
        tokenizer = make_tokenizer()
        tokens = tokenizer.tokenize(list(texts), update_vocab=True, return_as="ids", show_progress=False)
        if progress:
            progress(len(ids) // 2, len(ids))
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(tokens, show_progress=False)
        # Indexed from token ids, the vocabulary has int keys; bm25s saves it with orjson when that is installed,
        # which refuses int keys (the stdlib writes them as strings): write the same strings whichever is there.
        retriever.vocab_dict = {str(key): value for key, value in retriever.vocab_dict.items()}
        retriever.save(out_dir, show_progress=False)
        tokenizer.save_vocab(out_dir)
        tokenizer.save_stopwords(out_dir)
        (out_dir / "doc_ids.json").write_text(json.dumps(list(ids)))
        if progress:
            progress(len(ids), len(ids))
        return {"k1": k1, "b": b, "stemmer": "snowball-english", "stopwords": "en", "documents": len(ids)}

    def model_for(self, options: dict[str, Any]) -> None:
        return None

    def load(self, version_dir: Path, manifest: dict[str, Any]) -> LoadedBm25:
        retriever = bm25s.BM25.load(version_dir, show_progress=False)
        tokenizer = make_tokenizer()
        tokenizer.load_vocab(version_dir)
        tokenizer.load_stopwords(version_dir)
        doc_ids = json.loads((version_dir / "doc_ids.json").read_text())
        return LoadedBm25(retriever, tokenizer, doc_ids)


