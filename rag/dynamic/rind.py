"""RIND (DRAGIN's "when"): a generated sentence needs retrieval when one of its content words is both
uncertain and influential.

For token i: H_i = entropy of the distribution it was drawn from; a_i = the largest attention any later
token of the sentence pays to it (last layer, mean over heads). Per word: H = max over its tokens, a = sum;
s = 0 for stopwords and punctuation. Score_w = (a_w / Σa) · H_w · s_w · (words in the sentence); the
sentence triggers when a score exceeds the threshold θ."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rag.dynamic.attention import SentenceAttention


@dataclass
class RindResult:
    scores: list[float]  # one per sentence word
    triggered: list[int]  # indices of the words above the threshold

    @property
    def fires(self) -> bool:
        return bool(self.triggered)


def rind(attention: SentenceAttention, entropies: list[float], threshold: float) -> RindResult:
    """Scores of the sentence's words; ``entropies`` has one value per sentence token."""
    offset = attention.context_length
    within = attention.weights[:, offset:]  # sentence tokens attending to sentence tokens
    length = within.shape[0]
    later = torch.tril(torch.ones(length, length, dtype=torch.bool), diagonal=-1)  # [j, i]: j comes after i
    a_max = torch.where(later, within, torch.zeros_like(within)).max(dim=0).values
    words = attention.sentence_words
    a_words = [float(sum(a_max[t] for t in w.tokens)) if w.is_content else 0.0 for w in words]
    h_words = [max(entropies[t] for t in w.tokens) for w in words]
    total = sum(a_words) or 1.0
    scores = [a / total * h * len(words) for a, h in zip(a_words, h_words)]
    return RindResult(scores, [i for i, score in enumerate(scores) if score > threshold])
