"""QFS (DRAGIN's "what"): the query is made of the context words the triggering tokens attend to most.

Attention of the triggering words' tokens over the preceding context (question and text so far; last
layer, mean over heads), summed per context word; stopwords and punctuation dropped; the top ``top_k``
words, in their original order."""
from __future__ import annotations

from rag.dynamic.attention import SentenceAttention
from rag.dynamic.words import EDGE_PUNCTUATION


def qfs_query(attention: SentenceAttention, triggering_words: list[int], top_k: int = 25) -> str:
    rows = [t for i in triggering_words for t in attention.sentence_words[i].tokens]
    weights = attention.weights[rows, : attention.context_length].sum(dim=0)
    scored = [(float(weights[list(w.tokens)].sum()), position, w)
              for position, w in enumerate(attention.context_words) if w.is_content]
    chosen = sorted(sorted(scored, key=lambda item: -item[0])[:top_k], key=lambda item: item[1])
    return " ".join(EDGE_PUNCTUATION.sub("", w.text) for _, _, w in chosen)
