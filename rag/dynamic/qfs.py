"""QFS (DRAGIN's "what"), as in the authors' code (oneal2000/DRAGIN, src/generate.py, ``keep_real_words``).

The question, the text so far and the current sentence are encoded together (last layer, mean over heads).
For a triggering word, each of its tokens i contributes row i−1 (the position that predicted it) restricted
to the positions before the word and normalized to sum 1; the word's vector is the mean over its tokens,
summed per word; the query weights are the mean over the triggering words. The query is the ``top_k``
content words with the largest weights, in their original order — words of the current sentence included,
the triggering words themselves excluded. Without triggering words (the threshold fired on a non-content
word) the weights are undefined in the reference and its stable sort keeps text order: the first ``top_k``
content words."""
from __future__ import annotations

import torch

from core.llm_backend import CallCounter, LLMBackend
from rag.dynamic.attention import last_layer_attention
from rag.dynamic.words import EDGE_PUNCTUATION, group_words


def qfs_query(llm: LLMBackend, before: str, sentence_words: list[str], triggered: list[int], top_k: int = 25,
              counter: CallCounter | None = None) -> str:
    """``before``: the question and the text so far; ``sentence_words``: the current sentence's words;
    ``triggered``: indices of the triggering words among them."""
    ids = llm.encode(f"{before} {' '.join(sentence_words)}".strip())
    words = group_words(llm.tokenizer, ids)
    hits = {len(words) - len(sentence_words) + i for i in triggered} & set(range(len(words)))
    weights = torch.zeros(len(words))
    if hits:
        attention = last_layer_attention(llm, ids, counter).mean(dim=0)
        word_of = torch.full((len(ids),), -1, dtype=torch.long)
        for index, word in enumerate(words):
            word_of[list(word.tokens)] = index
        known = word_of >= 0
        for hit in hits:
            start = words[hit].tokens[0]
            vector = torch.zeros(len(ids))
            for t in words[hit].tokens if start > 0 else ():
                row = attention[t - 1, :start]
                vector[:start] += row / row.sum()
            vector /= len(words[hit].tokens)
            weights.index_add_(0, word_of[known], vector[known])
        weights /= len(hits)
    pairs = [(float(weights[i]), i) for i, w in enumerate(words) if i not in hits and w.is_content]
    chosen = sorted(sorted(pairs, key=lambda pair: -pair[0])[:top_k], key=lambda pair: pair[1])
    return " ".join(EDGE_PUNCTUATION.sub("", words[i].text) for _, i in chosen)
