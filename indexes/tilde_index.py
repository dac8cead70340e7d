"""The ``tilde`` index kind: TILDEv2 passage impacts, (token id, float16 weight) pairs per expanded passage.

One sparse passage × vocabulary matrix serves both ways: its rows rerank any candidate list, its
columns (the inverted layout: one posting list per token id) retrieve from the whole collection.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from core.device import torch_device
from core.model_registry import resolve_model
from core.settings import get_settings
from indexes.content_cache import ContentCache, cached_compute
from indexes.contract import Hits, ProgressCallback
from indexes.tilde.expansion import PassageExpander
from indexes.tilde.expansion_cache import expand_with_cache
from indexes.tilde.scorer import PassageImpacts, TildeScorer, query_counts, token_id_dtype
from indexes.tilde.scorer_store import resolve_scorer
from indexes.tilde.vocabulary import RULES_VERSION, scorable_token_mask

ENCODE_CHUNK = 256
QUERY_MAX_TOKENS = 512
EXPANDER_MODEL = "splade-tiny-bert"


@lru_cache(maxsize=2)
def load_scorer(path: str) -> TildeScorer:
    return TildeScorer.load(Path(path)).to(torch_device())


@lru_cache(maxsize=1)
def load_expander(top_k: int) -> PassageExpander:
    return PassageExpander(resolve_model(EXPANDER_MODEL).local_path, top_k=top_k).to(torch_device())


@lru_cache(maxsize=4)
def load_query_tokenizer(path: str) -> tuple[Any, np.ndarray]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(Path(path) / "encoder"))
    return tokenizer, scorable_token_mask(tokenizer)


def encode_impacts(texts: Sequence[str], scorer_path: Path, expansion_top_k: int,
                   progress: ProgressCallback | None = None) -> list[PassageImpacts]:
    """Impacts of ``texts`` (expanded first when ``expansion_top_k`` > 0), encoding only uncached texts."""
    scorer = load_scorer(str(scorer_path))
    id_dtype = token_id_dtype(scorer.scorable.size)

    def encode(batch: list[str]) -> list[PassageImpacts]:
        if expansion_top_k > 0:
            batch = expand_with_cache(batch, expansion_top_k, load_expander(expansion_top_k).expand)
        return scorer.passage_impacts(batch)

    cache_name = f"tilde-{scorer.fingerprint()}-x{expansion_top_k}-{RULES_VERSION}.sqlite"
    cache = ContentCache(get_settings().data_dir / "cache" / cache_name, "impacts", ("ids", "weights"))
    try:
        return cached_compute(
            texts, cache, encode, to_row=lambda impacts: (impacts[0].tobytes(), impacts[1].tobytes()),
            from_row=lambda row: (np.frombuffer(row[0], dtype=id_dtype),
                                  np.frombuffer(row[1], dtype=np.float16)),
            chunk=ENCODE_CHUNK, progress=progress)
    finally:
        cache.close()


def impact_matrix(impacts: Sequence[PassageImpacts], vocab_size: int) -> sp.csr_matrix:
    """Rows = passages, columns = token ids, values = float16 impacts."""
    indptr = np.zeros(len(impacts) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([ids.size for ids, _ in impacts])
    indices = np.concatenate([ids for ids, _ in impacts]) if impacts else np.zeros(0, np.int32)
    data = np.concatenate([w for _, w in impacts]).astype(np.float16) if impacts else np.zeros(0, np.float16)
    return sp.csr_matrix((data, indices, indptr), shape=(len(impacts), vocab_size))


def query_vector(tokenizer: Any, scorable: np.ndarray, query: str) -> tuple[np.ndarray, np.ndarray]:
    """The query's scorable token ids and their counts (duplicates count, as in the paper)."""
    counts = query_counts(tokenizer, scorable, query, QUERY_MAX_TOKENS)
    return np.fromiter(counts.keys(), np.int64, len(counts)), np.fromiter(counts.values(), np.float32, len(counts))


class LoadedTilde:
    """Impacts in memory: rows for reranking candidates, columns (posting lists) for retrieval."""

    def __init__(self, rows: sp.csr_matrix, doc_ids: list[str], scorer_path: str, expansion_top_k: int) -> None:
        """``expansion_top_k``: what the build expanded passages with, so unindexed candidates get the same."""
        self.rows = rows.astype(np.float32)
        self.postings = self.rows.tocsc()
        self.doc_ids = doc_ids
        self.row_of = {doc_id: row for row, doc_id in enumerate(doc_ids)}
        self.scorer_path = scorer_path
        self.expansion_top_k = expansion_top_k
        self.tokenizer, self.scorable = load_query_tokenizer(scorer_path)

    def query_vector(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        return query_vector(self.tokenizer, self.scorable, query)

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        """First stage: the sum of impacts over the query tokens' posting lists."""
        results = []
        for query in queries:
            token_ids, counts = self.query_vector(query)
            if token_ids.size == 0:
                results.append([])
                continue
            scores = self.postings[:, token_ids] @ counts
            k = min(top_k, int(np.count_nonzero(scores)))
            top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, np.int64)
            top = top[np.argsort(-scores[top], kind="stable")]
            results.append([(self.doc_ids[row], float(scores[row])) for row in top])
        return results

    def score(self, query: str, doc_ids: Sequence[str]) -> np.ndarray:
        """TILDEv2 scores of the given indexed passages (NaN for ids not in this index)."""
        token_ids, counts = self.query_vector(query)
        rows = np.array([self.row_of.get(doc_id, -1) for doc_id in doc_ids], dtype=np.int64)
        scores = np.full(len(doc_ids), np.nan, dtype=np.float32)
        known = rows >= 0
        if token_ids.size == 0:
            scores[known] = 0.0
        elif known.any():
            scores[known] = self.rows[rows[known]][:, token_ids] @ counts
        return scores


class TildeKind:
    name = "tilde"

    def build(
        self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], out_dir: Path,
        progress: ProgressCallback | None, options: dict[str, Any],
    ) -> dict[str, Any]:
        scorer_path = Path(self.model_for(options))
        expansion_top_k = int(options.get("expansion_top_k", 200))
        impacts = encode_impacts(texts, scorer_path, expansion_top_k, progress)
        vocab_size = load_scorer(str(scorer_path)).scorable.size
        matrix = impact_matrix(impacts, vocab_size)
        token_ids = matrix.indices.astype(token_id_dtype(vocab_size))  # scipy widens them to int32 in memory
        np.savez(out_dir / "impacts.npz", indptr=matrix.indptr, indices=token_ids, data=matrix.data,
                 shape=np.array(matrix.shape))
        (out_dir / "doc_ids.json").write_text(json.dumps(list(ids)))
        stored = token_ids.nbytes + matrix.data.nbytes
        return {"model": str(scorer_path), "expansion_top_k": expansion_top_k, "documents": len(ids),
                "postings": int(matrix.nnz), "bytes_per_passage": round(stored / max(1, len(ids)), 1)}

    def model_for(self, options: dict[str, Any]) -> str:
        return str(resolve_scorer(options.get("model")))

    def load(self, version_dir: Path, manifest: dict[str, Any]) -> LoadedTilde:
        arrays = np.load(version_dir / "impacts.npz")
        shape = tuple(int(x) for x in arrays["shape"])
        matrix = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        doc_ids = json.loads((version_dir / "doc_ids.json").read_text())
        return LoadedTilde(matrix, doc_ids, manifest["model"], int(manifest["expansion_top_k"]))
