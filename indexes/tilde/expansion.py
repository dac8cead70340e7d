"""Passage expansion for TILDEv2: vocabulary terms a masked LM predicts for the passage, appended to it.

TILDE predicts terms from its [CLS] head; here the bundled SPLADE-tiny MLM predicts them the SPLADE way
(max over positions of log(1 + ReLU(logit))). Of the top ``top_k`` (paper: 200) terms, those already
in the passage and those ielab/TILDE's ``clean_vacab`` blocks (``vocabulary.expandable_token_mask``) are
dropped; the rest ("##" pieces included) are appended in order of predicted weight.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from core.deadline import in_batches
from indexes.tilde.expanded_text import join_expansion
from indexes.tilde.vocabulary import expandable_token_mask

DEFAULT_TOP_K = 200
PREDICT_MAX_LENGTH = 256


class PassageExpander:
    """Appends predicted terms to passages with a masked LM sharing the scorer's WordPiece vocabulary."""

    def __init__(self, model_dir: Path | str, top_k: int = DEFAULT_TOP_K, batch_size: int = 16) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForMaskedLM.from_pretrained(str(model_dir)).eval()
        self.top_k = top_k
        self.batch_size = batch_size
        self.expandable = torch.as_tensor(expandable_token_mask(self.tokenizer))

    def to(self, device: str) -> PassageExpander:
        self.model.to(device)
        self.expandable = self.expandable.to(device)
        return self

    @torch.inference_mode()
    def expansion_terms(self, texts: list[str]) -> list[list[str]]:
        """Per passage, the appended terms (best predicted first)."""
        device = next(self.model.parameters()).device
        terms: dict[int, list[str]] = {}
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths per batch: less padding
        for rows in in_batches(order, self.batch_size):  # under a deadline: small batches, checked between them
            chunk = [texts[i] for i in rows]
            batch = self.tokenizer(chunk, truncation=True, max_length=PREDICT_MAX_LENGTH, padding=True,
                                   return_tensors="pt").to(device)
            logits = self.model(**batch).logits.masked_fill_(~batch["attention_mask"].bool().unsqueeze(-1), -torch.inf)
            pooled = torch.log1p(torch.relu(logits.amax(dim=1)))  # log1p∘relu is monotonic: pool first, then map
            top = pooled.topk(min(self.top_k, pooled.shape[1]), dim=1)
            full_ids = self.tokenizer(chunk, add_special_tokens=False, truncation=True, max_length=10**6)["input_ids"]
            for row, ids, values, present in zip(rows, top.indices, top.values, full_ids):
                keep, present_ids = self.expandable[ids] & (values > 0), set(present)
                absent = [token for token in ids[keep].tolist() if token not in present_ids]
                terms[row] = self.tokenizer.convert_ids_to_tokens(absent)
        return [terms[i] for i in range(len(texts))]

    def expand(self, texts: list[str]) -> list[str]:
        """Each passage followed by its expansion terms."""
        return [join_expansion(text, extra) for text, extra in zip(texts, self.expansion_terms(texts))]
