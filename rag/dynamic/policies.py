"""When and what to retrieve while the model writes, one policy per method. After each generated sentence
a policy returns a retrieval query (retrieve, then rewrite that sentence with the new passages) or None."""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.llm_backend import CallCounter, Generation, LLMBackend
from rag.dynamic.attention import read_attention
from rag.dynamic.qfs import qfs_query
from rag.dynamic.rind import rind

POLICIES = ("none", "single", "fixed-length", "fixed-sentence", "flare", "dragin")


@dataclass
class Written:
    """The state a policy sees: the question, the accepted text, the sentence just generated."""

    question: str
    text: str
    sentence: Generation
    tokens_since_retrieval: int


@dataclass
class Policy:
    name: str
    threshold: float = 1.2  # DRAGIN θ
    flare_probability: float = 0.4  # FLARE: a token below this probability triggers
    interval_tokens: int = 32  # fixed-length
    query_words: int = 25  # QFS top-k

    def initial_query(self, question: str) -> str | None:
        """Retrieval before the first sentence: single retrieval and the fixed schedules start with the question."""
        return question if self.name in ("single", "fixed-length", "fixed-sentence") else None

    def query(self, llm: LLMBackend, written: Written, counter: CallCounter) -> str | None:
        if self.name == "fixed-sentence":
            return written.sentence.text.strip() or None
        if self.name == "fixed-length" and written.tokens_since_retrieval >= self.interval_tokens:
            return llm.tokenizer.decode(llm.encode(written.text + written.sentence.text)[-self.interval_tokens:])
        if self.name == "flare":
            return flare_query(llm, written.sentence, self.flare_probability)
        if self.name == "dragin":
            context = f"{written.question}\n{written.text}".rstrip()
            attention = read_attention(llm, context, written.sentence.token_ids, counter)
            result = rind(attention, written.sentence.entropies, self.threshold)
            return qfs_query(attention, result.triggered, self.query_words) if result.fires else None
        return None


def flare_query(llm: LLMBackend, sentence: Generation, probability: float) -> str | None:
    """FLARE: retrieve when a token's probability is below ``probability``; the query is the sentence with
    those tokens removed (masked query)."""
    floor = math.log(probability)
    if not sentence.logprobs or min(sentence.logprobs) >= floor:
        return None
    kept = [t for t, lp in zip(sentence.token_ids, sentence.logprobs) if lp >= floor]
    return llm.tokenizer.decode(kept).strip() or None
