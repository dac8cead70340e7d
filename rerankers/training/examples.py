"""What reranker training consumes: one query with its candidates and the teacher's order of them, and the
token sequences an objective turns an example into."""
from __future__ import annotations

from dataclasses import dataclass, field

from haystack import Document


@dataclass
class RankingExample:
    """A training query; ``documents`` in first-stage order, ``teacher`` = indices into them, best first."""

    query_id: str
    query: str
    documents: list[Document]
    relevant: set[str]
    teacher: list[int]


@dataclass
class TrainingSequence:
    """Prompt + target token ids; the LM loss covers ``ids[target_start:]`` with ``weights`` (one per target
    token). For FIRST, ``rank_position`` is where the next-token logits of ``identifier_ids`` are the passages'
    scores, and ``teacher_ranks[i]`` is the teacher's rank (0 = best) of the passage shown i-th."""

    ids: list[int]
    target_start: int
    weights: list[float]
    rank_position: int | None = None
    identifier_ids: list[int] = field(default_factory=list)
    teacher_ranks: list[int] = field(default_factory=list)
