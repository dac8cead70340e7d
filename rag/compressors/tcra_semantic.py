"""TCRA semantic compression: per sentence, greedily delete the words whose removal moves the sentence
embedding least, until the sentence is down to a target token ratio or a deletion would take its cosine
to the original below a floor. All candidate deletions of all sentences are embedded in one batch.

Strategies: ``iterative`` re-scores every remaining word after each deletion (≈ n·d embeddings for d
deletions from n words); ``one-pass`` (default) scores each word's deletion once, deletes in that order and
checks the floor on the successive results (n + d embeddings), about 4× cheaper on 2WikiMultihopQA."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from haystack import Document, component

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from core.settings import get_settings
from indexes.encoder import get_encoder
from rag.compressors.compressor import Compressor, with_content
from rag.compressors.sentences import split_sentences

STRATEGIES = ("one-pass", "iterative")


@dataclass
class SentenceState:
    words: list[str]
    original: np.ndarray
    target_tokens: int
    done: bool = False

    def text(self) -> str:
        return " ".join(self.words)

    def candidates(self) -> list[str]:
        return [" ".join(self.words[:j] + self.words[j + 1:]) for j in range(len(self.words))]


@component
class SemanticCompressor(Compressor):
    """Word deletion by least embedding shift (``embedding_model``, normalized, cosine), per sentence."""

    method = "tcra-semantic"

    def __init__(self, model: str | None = None, ratio: float = 0.8, similarity_floor: float = 0.9,
                 min_words: int = 4, strategy: str = "one-pass", embedding_model: str | None = None,
                 batched: bool = True, batch_size: int = 256) -> None:
        if not 0 < ratio <= 1:
            raise InvalidInputError("ratio must be in (0, 1] (tokens kept / tokens of the sentence).")
        if not -1 <= similarity_floor <= 1:
            raise InvalidInputError("similarity_floor must be a cosine in [-1, 1].")
        if strategy not in STRATEGIES:
            raise InvalidInputError(f"strategy must be one of {', '.join(STRATEGIES)}.")
        Compressor.__init__(self, model)
        self.ratio = ratio
        self.similarity_floor = similarity_floor
        self.min_words = min_words
        self.strategy = strategy
        self.embedding_model = embedding_model or get_settings().embedding_model
        self.batched = batched
        self.batch_size = batch_size

    def warm_up(self) -> None:
        """Load the LLM and the sentence encoder into the caches ``run`` reads, before the first ``run``."""
        Compressor.warm_up(self)
        get_encoder(self.embedding_model)

    def _compress(self, query: str, documents: list[Document], counter: CallCounter) -> list[Document]:
        per_document = [split_sentences(d.content or "") for d in documents]
        flat = [s for sentences in per_document for s in sentences]
        compressed = iter(self.compress_sentences(flat))
        return [with_content(d, " ".join(next(compressed) for _ in sentences))
                for d, sentences in zip(documents, per_document)]

    def compress_sentences(self, sentences: list[str]) -> list[str]:
        """Each sentence with its least informative words deleted (same order, same count)."""
        if not sentences:
            return []
        originals = self._embed(sentences)
        states = [SentenceState(s.split(), originals[i], int(self.ratio * self.llm.count_tokens(s)))
                  for i, s in enumerate(sentences)]
        for state in states:
            state.done = len(state.words) < self.min_words or self._short_enough(state)
        if self.strategy == "iterative":
            self._iterative(states)
        else:
            self._one_pass(states)
        return [state.text() for state in states]

    def _iterative(self, states: list[SentenceState]) -> None:
        while active := [s for s in states if not s.done]:
            vectors = self._embed([c for state in active for c in state.candidates()])
            offset = 0
            for state in active:
                similarities = vectors[offset:offset + len(state.words)] @ state.original
                offset += len(state.words)
                best = int(np.argmax(similarities))
                if similarities[best] < self.similarity_floor:
                    state.done = True
                    continue
                del state.words[best]
                state.done = len(state.words) < self.min_words or self._short_enough(state)

    def _one_pass(self, states: list[SentenceState]) -> None:
        active = [s for s in states if not s.done]
        if not active:
            return
        vectors = self._embed([c for state in active for c in state.candidates()])
        offset, sequences = 0, []
        for state in active:
            order = np.argsort(-(vectors[offset:offset + len(state.words)] @ state.original), kind="stable")
            offset += len(state.words)
            sequences.append(self._deletion_sequence(state, [int(j) for j in order]))
        results = self._embed([text for sequence in sequences for _, text in sequence]) if any(sequences) else None
        offset = 0
        for state, sequence in zip(active, sequences):
            kept = state.words
            for position, (words, _) in enumerate(sequence):
                if float(results[offset + position] @ state.original) < self.similarity_floor:
                    break
                kept = words
            offset += len(sequence)
            state.words = kept

    def _deletion_sequence(self, state: SentenceState, order: list[int]) -> list[tuple[list[str], str]]:
        """The sentence after deleting the first 1, 2, … words of ``order``, until it is short enough."""
        sequence, deleted = [], set()
        for j in order:
            if len(state.words) - len(deleted) < self.min_words + 1:
                break
            deleted.add(j)
            words = [w for i, w in enumerate(state.words) if i not in deleted]
            text = " ".join(words)
            sequence.append((words, text))
            if self.llm.count_tokens(text) <= state.target_tokens:
                break
        return sequence

    def _short_enough(self, state: SentenceState) -> bool:
        return self.llm.count_tokens(state.text()) <= state.target_tokens

    def _embed(self, texts: list[str]) -> np.ndarray:
        encoder = get_encoder(self.embedding_model)
        if self.batched:
            return encoder.encode(texts, batch_size=self.batch_size)
        return np.concatenate([encoder.encode([text], batch_size=1) for text in texts])

    def init_parameters(self) -> dict[str, Any]:
        return {**Compressor.init_parameters(self), "ratio": self.ratio, "similarity_floor": self.similarity_floor,
                "min_words": self.min_words, "strategy": self.strategy, "embedding_model": self.embedding_model, "batched": self.batched,
                "batch_size": self.batch_size}
