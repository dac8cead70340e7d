"""Sentence-encoder training data: (query, judged positive, mined hard negative) triples by dataset, from the
paired examples of :mod:`evals.cross_encoder_training_set` (what ``siftrag train embedder`` trains on)."""
from __future__ import annotations

import random

from core.errors import InvalidInputError
from rerankers.training.examples import PairedExample


def encoder_triples(examples: list[PairedExample], seed: int) -> dict[str, list[tuple[str, str, str]]]:
    """One (query, positive, hard negative) triple per judged positive, by dataset (the ``DATASET/`` of the
    example ids); a query's negatives are dealt to its positives in a seeded order."""
    rng = random.Random(seed)
    triples: dict[str, list[tuple[str, str, str]]] = {}
    for example in examples:
        if not example.positives or not example.negatives:
            continue
        negatives = rng.sample(example.negatives, len(example.negatives))
        triples.setdefault(example.query_id.partition("/")[0], []).extend(
            (example.query, positive, negatives[i % len(negatives)]) for i, positive in enumerate(example.positives))
    if not triples:
        raise InvalidInputError("No training query has both a judged relevant passage and a mined negative.")
    return triples


def trained_query_ids(examples: list[PairedExample]) -> list[str]:
    """The ids of the examples that give triples (a judged positive and a mined negative), for ``training.json``."""
    return sorted({e.query_id for e in examples if e.positives and e.negatives})
