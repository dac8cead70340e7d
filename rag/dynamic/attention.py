"""The attention readout DRAGIN needs: the last layer's attention of a token sequence encoded on its own
(no prompt before it), per head."""
from __future__ import annotations

import torch

from core.llm_backend import CallCounter, LLMBackend


def last_layer_attention(llm: LLMBackend, ids: list[int], counter: CallCounter | None = None) -> torch.Tensor:
    """``[heads, L, L]``: row q is the attention token q pays to tokens 0..q (causal, diagonal included).
    Token 0 is encoded as the prefix; the rows of tokens 1..L−1 are read from its KV cache, so the backend
    never materializes more than these rows; row 0 attends only to itself."""
    last = llm.config.num_hidden_layers - 1
    heads = llm.config.num_attention_heads
    first = torch.zeros(heads, 1, len(ids))
    first[:, 0, 0] = 1.0
    if len(ids) == 1:
        return first
    rows = llm.query_attention(ids[:1], [ids[1:]], layers=range(last, last + 1), counter=counter)[0][0]
    return torch.cat([first, rows], dim=1)
