"""Every LLM reranker takes ``first_stage_weight``: 0 is the reranker alone, 1 the first stage's order, between them
the min-max interpolation of both (``rerankers/score_fusion.py``); the option serializes with the component."""
from __future__ import annotations

import numpy as np
import pytest
from haystack import Document

from rerankers.registry import LLM_METHODS, make_reranker
from rerankers.score_fusion import with_first_stage

MODEL = "smollm2-135m-instruct"  # the base model: fusion does not depend on an adapter
QUERY = "Does vitamin D deficiency raise the risk of bone fractures?"
TEXTS = ["Vitamin D deficiency is linked to osteoporosis and fractures in older adults.",
         "The stock market fell sharply on Tuesday.",
         "Calcium and vitamin D supplements reduced hip fractures in a randomized trial.",
         "A recipe for banana bread with walnuts."]


def _documents() -> list[Document]:
    return [Document(id=str(i), content=text, score=float(len(TEXTS) - i) * 3.0) for i, text in enumerate(TEXTS)]


@pytest.mark.parametrize("method", [m for m in LLM_METHODS if m not in ("listwise", "fullrank")])
def test_first_stage_weight_interpolates_every_llm_reranker(method: str) -> None:
    options = {"model": MODEL, "passage_words": 20}
    alone = make_reranker(method, **options, first_stage_weight=0.0).run(QUERY, _documents(), top_k=4)["documents"]
    first_stage = make_reranker(method, **options, first_stage_weight=1.0).run(QUERY, _documents(), top_k=4)
    assert [d.id for d in first_stage["documents"]] == ["0", "1", "2", "3"]
    half = make_reranker(method, **options, first_stage_weight=0.5)
    fused = half.run(QUERY, _documents(), top_k=4)["documents"]
    by_id = {d.id: d.score for d in alone}
    expected = with_first_stage(np.array([by_id[str(i)] for i in range(4)]), _documents(), 0.5)
    assert [d.id for d in fused] == [str(i) for i in sorted(range(4), key=lambda i: (-expected[i], i))]
    assert np.allclose([d.score for d in fused], sorted(expected, reverse=True))
    assert half.to_dict()["init_parameters"]["first_stage_weight"] == 0.5


def test_a_weight_outside_0_1_is_refused() -> None:
    from core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="first_stage_weight"):
        make_reranker("icr", model=MODEL, first_stage_weight=1.5)
