"""The embedding reranker: cosine of the bundled MiniLM interpolated with the first stage (default weight chosen on
SciFact train), with BM25 over the candidates when they carry no first-stage score, and passage vectors read from
the collection's dense index instead of encoded again."""
from __future__ import annotations

import numpy as np
import pytest
from haystack import Document

from core.errors import InvalidInputError
from indexes.bm25_index import bm25_scores
from indexes.encoder import get_encoder
from indexes.retriever import SiftragRetriever
from rerankers.embedding_reranker import FIRST_STAGE_WEIGHT, EmbeddingReranker
from rerankers.score_fusion import min_max, with_first_stage

QUERY = "Does vitamin D deficiency raise the risk of bone fractures?"
TEXTS = ["The stock market fell sharply on Tuesday.",
         "A recipe for banana bread with walnuts.",
         "Vitamin D deficiency is linked to osteoporosis and fractures in older adults.",
         "Calcium and vitamin D supplements reduced hip fractures in a randomized trial."]


def _documents(scored: bool = True) -> list[Document]:
    return [Document(id=str(i), content=text, score=float(len(TEXTS) - i) if scored else None)
            for i, text in enumerate(TEXTS)]


def _cosines() -> np.ndarray:
    vectors = get_encoder("all-minilm-l6-v2").encode([QUERY, *TEXTS])
    return vectors[1:] @ vectors[0]


def test_cosine_alone_puts_the_relevant_passages_first_and_weight_1_keeps_the_first_stage() -> None:
    alone = EmbeddingReranker(first_stage_weight=0.0).run(QUERY, _documents(), top_k=4)
    assert {d.id for d in alone["documents"][:2]} == {"2", "3"}
    assert np.allclose([d.score for d in alone["documents"]], sorted(_cosines(), reverse=True), atol=1e-5)
    kept = EmbeddingReranker(first_stage_weight=1.0).run(QUERY, _documents(), top_k=4)
    assert [d.id for d in kept["documents"]] == ["0", "1", "2", "3"]


def test_the_default_interpolates_with_the_first_stage_when_every_candidate_has_a_score() -> None:
    reranker = EmbeddingReranker()
    assert reranker.first_stage_weight == FIRST_STAGE_WEIGHT > 0
    result = reranker.run(QUERY, _documents(), top_k=4)
    expected = with_first_stage(_cosines(), _documents(), FIRST_STAGE_WEIGHT)
    assert [d.id for d in result["documents"]] == [str(i) for i in np.argsort(-expected, kind="stable")]
    assert np.allclose([d.score for d in result["documents"]], sorted(expected, reverse=True), atol=1e-5)
    assert result["meta"]["first_stage_weight"] == FIRST_STAGE_WEIGHT
    assert result["meta"]["lexical_scores"] == "first stage"


def test_candidates_without_first_stage_scores_are_fused_with_bm25_over_the_candidates() -> None:
    reranker = EmbeddingReranker()
    unscored = reranker.run(QUERY, _documents(scored=False), top_k=4)
    assert unscored["meta"]["lexical_scores"] == "bm25 over the candidates"
    lexical = bm25_scores(QUERY, TEXTS)
    assert lexical[2] > lexical[0] == 0.0  # the passages sharing the query's words score, the others do not
    expected = (1 - FIRST_STAGE_WEIGHT) * min_max(_cosines()) + FIRST_STAGE_WEIGHT * min_max(lexical)
    assert np.allclose([d.score for d in unscored["documents"]], sorted(expected, reverse=True), atol=1e-5)
    assert reranker.to_dict()["init_parameters"]["first_stage_weight"] == FIRST_STAGE_WEIGHT


def test_indexed_candidates_reuse_the_dense_index_vectors(built_slice) -> None:
    candidates = SiftragRetriever("slice", "bm25", top_k=20).run(query="vitamin D and bone fractures")["documents"]
    result = EmbeddingReranker(first_stage_weight=0.0).run("vitamin D and bone fractures", candidates, top_k=20)
    assert result["meta"]["passages_from_index"] == len(candidates) >= 10
    assert result["meta"]["forward_passes"] == 1  # the query alone
    fresh = EmbeddingReranker(first_stage_weight=0.0)
    texts = [Document(id=d.id, content=d.content + " (edited)", meta=d.meta) for d in candidates]
    assert fresh.run("vitamin D and bone fractures", texts, top_k=20)["meta"]["passages_from_index"] == 0


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_a_weight_outside_0_1_is_refused(weight: float) -> None:
    with pytest.raises(InvalidInputError, match="first_stage_weight"):
        EmbeddingReranker(first_stage_weight=weight)


def test_an_evaluation_of_bm25_then_embedding_builds_the_dense_index_that_caches_its_vectors() -> None:
    from evals.pipelines import required_kinds

    assert required_kinds("bm25>embedding") == ("bm25", "dense")
    assert required_kinds("bm25>embedding:first_stage_weight=0") == ("bm25", "dense")
    assert required_kinds("bm25>tilde") == ("bm25", "tilde")
