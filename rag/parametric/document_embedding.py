"""A document as the translator reads it: the base LLM's last-layer hidden state at its last token."""
from __future__ import annotations

import torch

from core.llm_backend import CallCounter, LLMBackend
from rag.parametric.lora_delta import active

MAX_DOCUMENT_TOKENS = 512


@torch.no_grad()
def document_embeddings(llm: LLMBackend, passages: list[str], counter: CallCounter | None = None) -> torch.Tensor:
    """[len(passages), hidden] float32 on the CPU; one batched forward pass of the base model (no delta;
    left padding puts every passage's last token at the end)."""
    with llm.lock, active(None):
        batch = llm.tokenizer(passages, return_tensors="pt", padding=True, truncation=True,
                              max_length=MAX_DOCUMENT_TOKENS, add_special_tokens=False).to(llm.device)
        out = llm.model(**batch, output_hidden_states=True, use_cache=False, logits_to_keep=1)
    if counter:
        counter.forward_passes += 1
        counter.prompt_tokens += int(batch.attention_mask.sum())
    return out.hidden_states[-1][:, -1, :].float().cpu()
