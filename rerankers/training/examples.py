"""What reranker training consumes: one query with its candidates and the teacher's order of them (LLM adapters),
or with its judged positives and mined negatives (cross-encoders)."""
from __future__ import annotations

from dataclasses import dataclass

from haystack import Document


@dataclass
class RankingExample:
    """A training query; ``documents`` in first-stage order, ``teacher`` = indices into them, best first."""

    query_id: str
    query: str
    documents: list[Document]
    relevant: set[str]
    teacher: list[int]



@dataclass(frozen=True)
class PairedExample:
    """One training query, its judged relevant passages and its mined hard negatives (texts)."""

    query_id: str
    query: str
    positives: list[str]
    negatives: list[str]
