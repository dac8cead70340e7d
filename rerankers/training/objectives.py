"""The three training objectives, each built on the prompt its reranker uses at inference.

- ``first`` (Reddy et al., 2024): LM loss on the teacher permutation + λ · weighted RankNet on the logits of the
  first generated identifier, pairs weighted 1/(r_i + r_j) by teacher rank (1-based).
- ``fullrank`` (Sliding Windows Are Not the End): LM loss on the whole permutation of all candidates in one
  prompt, importance-aware: weight 1 for separator tokens, 1 + 1/log2(r + 1) for the tokens of the identifier
  at rank r (1-based).
- ``pointwise``: cross-entropy of the "Yes"/"No" token after the pointwise prompt, one positive and sampled
  negatives per query.
Candidates are shown in a random order (seeded per step) on a ``shuffle_fraction`` of the steps, so that the model
cannot rank by position alone; on the others in first-stage order, as inference shows them.
"""
from __future__ import annotations

import math
import random
from typing import Any

import torch

from core.errors import InvalidInputError
from core.lora_training import TrainingSequence, weighted_lm_loss
from rerankers.first import FirstReranker
from rerankers.full_ranking import FullRankingReranker
from rerankers.pointwise import PointwiseReranker
from rerankers.registry import OBJECTIVES
from rerankers.training.examples import RankingExample


class Objective:
    """Turns an example into training sequences and their loss; ``reranker`` builds the inference prompt."""

    name = ""

    def __init__(self, reranker: Any, shuffle_fraction: float = 1.0) -> None:
        self.reranker = reranker
        self.shuffle_fraction = shuffle_fraction
        self.tokenizer = reranker.llm.tokenizer
        self.eos = self.tokenizer.eos_token_id

    def sequences(self, example: RankingExample, rng: random.Random) -> list[TrainingSequence]:
        raise NotImplementedError

    def loss(self, logits: list[torch.Tensor], sequences: list[TrainingSequence]) -> torch.Tensor:
        """``logits[k]``: (target length + 1, vocab) for sequence k, from position ``target_start - 1`` on."""
        return weighted_lm_loss(logits, sequences)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)


def shown_order(example: RankingExample, rng: random.Random, shuffle_fraction: float) -> tuple[list[int], list[int]]:
    """(document indices in the order shown: shuffled with probability ``shuffle_fraction``, else first-stage
    order; teacher rank of each shown document)."""
    shown = list(range(len(example.documents)))
    if rng.random() < shuffle_fraction:
        rng.shuffle(shown)
    rank = {index: r for r, index in enumerate(example.teacher)}
    return shown, [rank[i] for i in shown]


class FirstObjective(Objective):
    name = "first"

    def __init__(self, reranker: FirstReranker, ranking_weight: float, shuffle_fraction: float = 1.0) -> None:
        super().__init__(reranker, shuffle_fraction)
        self.ranking_weight = ranking_weight

    def sequences(self, example: RankingExample, rng: random.Random) -> list[TrainingSequence]:
        shown, ranks = shown_order(example, rng, self.shuffle_fraction)
        prompt, identifiers = self.reranker.prompt(example.query, [example.documents[i] for i in shown],
                                                   primed=True)
        by_rank = sorted(range(len(shown)), key=lambda position: ranks[position])
        permutation = " > ".join(f"[{identifiers.labels[p]}]" for p in by_rank)[len(identifiers.primer):]
        prompt_ids = self.encode(prompt)
        target = self.encode(permutation) + [self.eos]
        return [TrainingSequence(prompt_ids + target, len(prompt_ids), [1.0] * len(target),
                                 rank_position=len(prompt_ids) - 1, identifier_ids=list(identifiers.token_ids),
                                 teacher_ranks=ranks)]

    def loss(self, logits: list[torch.Tensor], sequences: list[TrainingSequence]) -> torch.Tensor:
        ranking = torch.stack([first_token_ranknet(row[0, s.identifier_ids].float(), s.teacher_ranks)
                               for row, s in zip(logits, sequences)]).mean()
        return super().loss(logits, sequences) + self.ranking_weight * ranking


def first_token_ranknet(scores: torch.Tensor, teacher_ranks: list[int]) -> torch.Tensor:
    """Σ over pairs with r_i < r_j of 1/(r_i + r_j) · log(1 + exp(s_j − s_i)), ranks 1-based (FIRST)."""
    ranks = torch.tensor(teacher_ranks, dtype=torch.float32) + 1
    better = ranks[:, None] < ranks[None, :]
    weights = better / (ranks[:, None] + ranks[None, :])
    return (weights * torch.nn.functional.softplus(scores[None, :] - scores[:, None])).sum()


class FullRankObjective(Objective):
    name = "fullrank"

    def sequences(self, example: RankingExample, rng: random.Random) -> list[TrainingSequence]:
        shown, ranks = shown_order(example, rng, self.shuffle_fraction)
        labels = [str(n) for n in range(1, len(shown) + 1)]
        prompt = self.reranker.prompt(example.query, [example.documents[i] for i in shown], labels)
        by_rank = sorted(range(len(shown)), key=lambda position: ranks[position])
        permutation, spans = "", []
        for rank, position in enumerate(by_rank, start=1):
            permutation += ("" if rank == 1 else " > ") + "["
            spans.append((len(permutation), len(permutation) + len(labels[position]), rank))
            permutation += labels[position] + "]"
        encoded = self.tokenizer(permutation, add_special_tokens=False, return_offsets_mapping=True)
        weights = [importance_weight(start, end, spans) for start, end in encoded["offset_mapping"]] + [1.0]
        prompt_ids = self.encode(prompt)
        return [TrainingSequence(prompt_ids + encoded["input_ids"] + [self.eos], len(prompt_ids), weights)]


def importance_weight(start: int, end: int, spans: list[tuple[int, int, int]]) -> float:
    """1 + 1/log2(r + 1) for a token inside the identifier at rank r; 1 for separators."""
    for span_start, span_end, rank in spans:
        if start < span_end and end > span_start:
            return 1.0 + 1.0 / math.log2(rank + 1)
    return 1.0


class PointwiseObjective(Objective):
    name = "pointwise"

    def __init__(self, reranker: PointwiseReranker, negatives: int) -> None:
        super().__init__(reranker)
        self.negatives = negatives
        self.yes, self.no = reranker.answer_token_ids()

    def sequences(self, example: RankingExample, rng: random.Random) -> list[TrainingSequence]:
        positives = [i for i, d in enumerate(example.documents) if d.id in example.relevant]
        negatives = [i for i, d in enumerate(example.documents) if d.id not in example.relevant]
        chosen = [(rng.choice(positives), self.yes)] + [
            (i, self.no) for i in rng.sample(negatives, min(self.negatives, len(negatives)))]
        sequences = []
        for index, answer in chosen:
            passage = self.reranker.passages([example.documents[index]])[0]
            prompt_ids = self.encode(self.reranker.prompt(example.query, passage))
            sequences.append(TrainingSequence(prompt_ids + [answer], len(prompt_ids), [1.0]))
        return sequences


def make_objective(name: str, model: str, passage_words: int, window: int, ranking_weight: float,
                   negatives: int, shuffle_fraction: float = 1.0) -> Objective:
    """The objective ``name`` over the inference prompt of its reranker on ``model``."""
    if name == "first":
        return FirstObjective(FirstReranker(model=model, passage_words=passage_words, window=window),
                              ranking_weight, shuffle_fraction)
    if name == "fullrank":
        return FullRankObjective(FullRankingReranker(model=model, passage_words=passage_words), shuffle_fraction)
    if name == "pointwise":
        return PointwiseObjective(PointwiseReranker(model=model, passage_words=passage_words), negatives)
    raise InvalidInputError(f"Unknown training objective '{name}': use one of {', '.join(OBJECTIVES)}.")

