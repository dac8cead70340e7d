"""Rerankers that shorten passages to fit the context say so: ``passage_words_used`` in the result meta is the
fewest words any prompt kept per passage (``passage_words`` when nothing was shortened)."""
from __future__ import annotations

import pytest
from haystack import Document

from rerankers.first import FirstReranker
from rerankers.icr import ICRReranker

MODEL = "smollm2-135m-instruct"
QUERY = "Which organelle produces ATP?"
LONG = [Document(id=str(i), content=" ".join(f"cell{i}{n} energy" for n in range(60))) for i in range(6)]  # 120 words
SHORT = [Document(id="a", content="The mitochondrion produces ATP."), Document(id="b", content="Paris is in France.")]


def test_icr_reports_the_words_it_kept_when_the_context_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    icr = ICRReranker(model=MODEL)
    assert icr.run(query=QUERY, documents=SHORT)["meta"]["passage_words_used"] == icr.passage_words
    monkeypatch.setattr(icr.llm, "context_length", 512)  # a small model's context: 6 × 120 words do not fit
    meta = icr.run(query=QUERY, documents=LONG)["meta"]
    assert 1 < meta["passage_words_used"] < 120
    assert meta["passage_words_used"] == icr.fitted_words(QUERY, LONG[::-1])


def test_first_reports_the_fewest_words_any_window_kept() -> None:
    roomy = FirstReranker(model=MODEL, passage_words=120, window=4, stride=2)
    assert roomy.run(query=QUERY, documents=LONG)["meta"]["passage_words_used"] == 120
    tight = FirstReranker(model=MODEL, passage_words=120, window=4, stride=2, context_size=400)
    meta = tight.run(query=QUERY, documents=LONG)["meta"]
    assert 1 < meta["passage_words_used"] < 120 and meta["forward_passes"] == 2
