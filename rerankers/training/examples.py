"""What reranker training consumes: one query with its candidates and the teacher's order of them."""
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

