"""The one attention readout DRAGIN needs: how much each token of a new sentence attends to every earlier
token (the question, the text so far, and the sentence itself), last layer, mean over heads."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.llm_backend import CallCounter, LLMBackend
from rag.dynamic.words import Word, group_words


@dataclass
class SentenceAttention:
    """``weights[q, p]``: attention of sentence token q to position p (context first, then the sentence)."""

    weights: torch.Tensor
    context_words: list[Word]
    sentence_words: list[Word]  # token positions relative to the sentence
    context_length: int


def read_attention(llm: LLMBackend, context: str, sentence_ids: list[int],
                   counter: CallCounter | None = None) -> SentenceAttention:
    """One forward pass over ``context`` (cached) then the sentence, keeping the last layer only."""
    context_ids = llm.encode(context)
    last = llm.model.config.num_hidden_layers - 1
    attention = llm.query_attention(context_ids, [sentence_ids], layers=range(last, last + 1), counter=counter)[0]
    pieces = [llm.tokenizer.decode([i]) for i in context_ids]
    return SentenceAttention(
        weights=attention[0].mean(dim=0),
        context_words=group_words(pieces),
        sentence_words=group_words([llm.tokenizer.decode([i]) for i in sentence_ids]),
        context_length=len(context_ids),
    )
