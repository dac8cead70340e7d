"""The documents a reranker returns: each a copy of its candidate with the score it was ranked by and, in its meta,
``model_score``: the reranker's own score before any interpolation with the first stage (what relevance
calibration reads besides the rank, ``rerankers/relevance_calibration.py``). The candidates' meta is not changed."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from haystack import Document

MODEL_SCORE = "model_score"


def ranked_documents(documents: Sequence[Document], ranking: Iterable[tuple[int, float]],
                     model_scores: Sequence[float]) -> list[Document]:
    """``documents[i]`` for each ``(i, score)`` of ``ranking``, in that order, scored ``score``, with
    ``model_scores[i]`` in its meta."""
    return [Document(id=documents[i].id, content=documents[i].content, score=float(score),
                     meta={**documents[i].meta, MODEL_SCORE: float(model_scores[i])}) for i, score in ranking]
