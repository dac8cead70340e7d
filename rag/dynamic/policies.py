"""When and what to retrieve while the model writes, one policy per method (oneal2000/DRAGIN,
src/generate.py: ``SingleRAG``, ``FixLengthRAG``, ``TokenRAG`` for FLARE, ``AttnWeightRAG`` for DRAGIN).

- ``single``: the question retrieves once, before the answer.
- ``fixed-length`` / ``fixed-sentence``: the question retrieves for the first chunk (``interval_tokens``
  tokens, or one sentence); each chunk is kept as written and is the query for the next one.
- ``flare`` / ``dragin``: after each sentence the policy returns a query (the sentence is then rewritten
  with the passages) or None."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.llm_backend import CallCounter, Generation, LLMBackend
from rag.dynamic.attention import last_layer_attention
from rag.dynamic.methods import POLICIES as POLICIES  # re-exported: the table of dynamic methods names them
from rag.dynamic.qfs import qfs_query
from rag.dynamic.rind import rind

SCHEDULED = ("fixed-length", "fixed-sentence")


@dataclass
class Written:
    """The state a policy sees: the question, the accepted text, the sentence just generated and the ids
    generated before it since the last rewrite (DRAGIN's chunk)."""

    question: str
    text: str
    sentence: Generation
    chunk_ids: list[int] = field(default_factory=list)


@dataclass
class Policy:
    name: str
    threshold: float = 5.0  # DRAGIN θ, calibrated for SmolLM2-135M (docs/dynamic-retrieval.md)
    flare_threshold: float = 0.35  # FLARE θ on the sentence's mean(1 − p), calibrated likewise
    interval_tokens: int = 32  # fixed-length chunk
    query_words: int = 25  # QFS top-k

    @property
    def scheduled(self) -> bool:
        """Retrieves before every chunk, with the previous chunk as the query."""
        return self.name in SCHEDULED

    def initial_query(self, question: str) -> str | None:
        """Retrieval before the first chunk: single retrieval and the fixed schedules start with the question."""
        return question if self.name == "single" or self.scheduled else None

    def query(self, llm: LLMBackend, written: Written, counter: CallCounter) -> str | None:
        """FLARE and DRAGIN: the query for rewriting the sentence just written, or None to keep it."""
        if self.name == "flare":
            return flare_query(llm, written.sentence, self.flare_threshold)
        if self.name == "dragin":
            return dragin_query(llm, written, self.threshold, self.query_words, counter)
        return None


def dragin_query(llm: LLMBackend, written: Written, threshold: float, top_k: int,
                 counter: CallCounter) -> str | None:
    """RIND on the sentence; when it fires, QFS over the question, the text so far and the sentence."""
    sentence = written.sentence
    attention = last_layer_attention(llm, written.chunk_ids + sentence.token_ids, counter)
    result = rind(llm.tokenizer, attention, len(written.chunk_ids), sentence.token_ids, sentence.entropies,
                  threshold)
    if not result.fires:
        return None
    before = " ".join(part for part in (written.question.strip(), written.text.strip()) if part)
    return qfs_query(llm, before, [w.text for w in result.words], result.triggered, top_k, counter) or \
        written.question


def flare_query(llm: LLMBackend, sentence: Generation, threshold: float) -> str | None:
    """FLARE as DRAGIN's repository runs it (``TokenRAG``, ``sentence_solver: avg``): retrieve when the
    mean of 1 − p over the sentence's tokens exceeds θ; the query is the sentence without the tokens whose
    1 − p exceeds θ (masked query)."""
    risks = [1.0 - math.exp(lp) for lp in sentence.logprobs]
    if not risks or sum(risks) / len(risks) <= threshold:
        return None
    kept = [t for t, risk in zip(sentence.token_ids, risks) if risk <= threshold]
    return llm.tokenizer.decode(kept).strip() or sentence.text.strip() or None
