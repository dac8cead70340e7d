"""RIND (DRAGIN's "when"), as in the authors' code (oneal2000/DRAGIN, src/generate.py, ``generate_attn`` and
``AttnWeightRAG.modifier``).

The text generated since the last rewrite (the reference's chunk) is encoded on its own; a_i = the largest
attention any position (token i itself included) pays to token i in the last layer, maximum over positions
per head, then the mean over heads. Per word (``words.group_words``): a = sum over its tokens, H = mean of
its tokens' entropies. Score_w = (a_w / Σ_all words a) · H_w · (words in the sentence). The sentence triggers
when any word's score exceeds θ — before the content-word filter —; the words that then pass the filter are
the triggering words QFS starts from (possibly none)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rag.dynamic.words import Word, group_words


@dataclass
class RindResult:
    words: list[Word]  # the sentence's words, token positions relative to the sentence
    scores: list[float]  # one per word
    over: list[int]  # words above θ
    triggered: list[int]  # words above θ that are content words

    @property
    def fires(self) -> bool:
        return bool(self.over)


def rind(tokenizer: PreTrainedTokenizerBase, attention: torch.Tensor, start: int, sentence_ids: list[int],
         entropies: list[float], threshold: float) -> RindResult:
    """``attention``: ``[heads, L, L]`` of the chunk whose last ``len(sentence_ids)`` tokens, from ``start``,
    are the sentence; ``entropies``: one per sentence token."""
    a_max = attention.max(dim=1).values.mean(dim=0)[start:]
    words = group_words(tokenizer, sentence_ids)
    a_words = [float(sum(a_max[t] for t in w.tokens)) for w in words]
    h_words = [sum(entropies[t] for t in w.tokens) / len(w.tokens) for w in words]
    total = sum(a_words) or 1.0
    scores = [a / total * h * len(words) for a, h in zip(a_words, h_words)]
    over = [i for i, score in enumerate(scores) if score > threshold]
    return RindResult(words, scores, over, [i for i in over if words[i].is_content])
