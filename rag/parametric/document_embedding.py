"""A document as the translator reads it: the base LLM's last-layer hidden state at its last token."""
from __future__ import annotations

import torch

from core.llm_backend import CallCounter, LLMBackend

MAX_DOCUMENT_TOKENS = 512


def document_embeddings(llm: LLMBackend, passages: list[str], counter: CallCounter | None = None) -> torch.Tensor:
    """[len(passages), hidden] float32 on the CPU; one batched forward pass of the base model (no delta;
    left padding puts every passage's last token at the end)."""
    return llm.last_token_states(passages, MAX_DOCUMENT_TOKENS, counter)
