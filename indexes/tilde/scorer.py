"""The TILDEv2 scorer: a BERT encoder + Linear(hidden → 1) + ReLU, one non-negative weight per passage token.

Queries are only tokenized (same WordPiece vocabulary), never encoded. The score of a passage is
the sum, over query tokens (duplicates counted), of the largest weight that token id has in the passage.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from core.deadline import in_batches
from indexes.tilde.expanded_text import expanded_token_ids
from indexes.tilde.vocabulary import scorable_token_mask

CONFIG_FILE = "tilde.json"
HEAD_FILE = "head.pt"
PassageImpacts = tuple[np.ndarray, np.ndarray]  # (unique token ids, max weight per id as float16)


class TildeScorer(nn.Module):
    """Token weights for passages; query token counts for scoring."""

    def __init__(self, encoder: nn.Module, tokenizer: Any, max_length: int = 512, info: dict | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.head = nn.Linear(encoder.config.hidden_size, 1)
        self.max_length = max_length
        self.info = dict(info or {})
        self.scorable = scorable_token_mask(tokenizer)

    @classmethod
    def from_encoder(cls, encoder_dir: Path | str, max_length: int = 512) -> TildeScorer:
        """A new, untrained scorer on a BERT-vocabulary encoder folder (MLM heads are dropped)."""
        encoder = AutoModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
        return cls(encoder, tokenizer, max_length, {"base_encoder": str(encoder_dir)})

    @classmethod
    def load(cls, path: Path) -> TildeScorer:
        config = json.loads((path / CONFIG_FILE).read_text())
        encoder = AutoModel.from_pretrained(str(path / "encoder"), add_pooling_layer=False, dtype=torch.float32)
        scorer = cls(encoder,
                     AutoTokenizer.from_pretrained(str(path / "encoder")), config["max_length"], config["info"])
        scorer.head.load_state_dict(torch.load(path / HEAD_FILE, map_location="cpu", weights_only=True))
        scorer.eval()
        return scorer

    def save(self, path: Path, half: bool = False) -> None:
        """Write the scorer; ``half`` stores the encoder in float16 (half the size; loaded back as float32)."""
        path.mkdir(parents=True, exist_ok=True)
        encoder = copy.deepcopy(self.encoder).half() if half else self.encoder
        encoder.save_pretrained(str(path / "encoder"))
        self.tokenizer.save_pretrained(str(path / "encoder"))
        torch.save(self.head.state_dict(), path / HEAD_FILE)
        (path / CONFIG_FILE).write_text(json.dumps({"max_length": self.max_length, "info": self.info}, indent=1))

    def fingerprint(self) -> str:
        """A short hash of the weights, so caches of passage impacts never mix two models."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            if name.endswith("weight"):
                digest.update(name.encode())
                digest.update(tensor.detach().float().flatten()[:4096].cpu().numpy().tobytes())
        return digest.hexdigest()[:16]

    def tokenize_passages(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """[CLS] passage (+ appended expansion tokens) [SEP], padded, at most ``max_length`` tokens."""
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        rows = [[cls, *expanded_token_ids(self.tokenizer, text, self.max_length - 2), sep] for text in texts]
        return self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")

    def token_weights(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      scorable_only: bool = True) -> torch.Tensor:
        """(N, L) ReLU(linear(hidden)) per token, zero at padding and (``scorable_only``) at unscorable tokens.
        Training uses every token, as ielab/TILDE's ``TILDEv2.forward`` does; the stop list applies when indexing."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = torch.relu(self.head(hidden).squeeze(-1))
        keep = attention_mask.bool()
        if scorable_only:
            keep = keep & torch.as_tensor(self.scorable, device=input_ids.device)[input_ids]
        return weights * keep

    @torch.inference_mode()
    def passage_impacts(self, texts: list[str], batch_size: int = 32) -> list[PassageImpacts]:
        """Per passage, its scorable token ids (unique) with the max weight of each, float16."""
        device = next(self.parameters()).device
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        by_position: dict[int, PassageImpacts] = {}
        for rows in in_batches(order, batch_size):  # under a deadline: small batches, checked between them
            batch = self.tokenize_passages([texts[i] for i in rows])
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            weights = self.token_weights(ids, mask).float().cpu().numpy()
            for row, token_ids, token_weights in zip(rows, ids.cpu().numpy(), weights):
                by_position[int(row)] = max_per_token(token_ids, token_weights, self.scorable)
        return [by_position[i] for i in range(len(texts))]

    def query_counts(self, query: str) -> Counter[int]:
        """Scorable query token ids with their counts (the query is never encoded)."""
        return query_counts(self.tokenizer, self.scorable, query, self.max_length)


def query_counts(tokenizer: Any, scorable: np.ndarray, query: str, max_length: int) -> Counter[int]:
    """Scorable token ids of a tokenized (never encoded) query, duplicates counted as in the paper."""
    ids = tokenizer(query, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    return Counter(int(t) for t in ids if scorable[t])


def max_per_token(token_ids: np.ndarray, weights: np.ndarray, scorable: np.ndarray) -> PassageImpacts:
    """Collapse a passage's tokens to unique scorable ids, keeping each id's largest weight."""
    keep = scorable[token_ids] & (weights > 0)
    ids, values = token_ids[keep], weights[keep]
    if ids.size == 0:
        return np.zeros(0, token_id_dtype(scorable.size)), np.zeros(0, np.float16)
    order = np.lexsort((-values, ids))
    ids, values = ids[order], values[order]
    first = np.ones(ids.size, dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    return ids[first].astype(token_id_dtype(scorable.size)), values[first].astype(np.float16)


def token_id_dtype(vocab_size: int) -> type:
    """uint16 for BERT-sized vocabularies (the paper's layout), uint32 beyond 65,536 ids."""
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def score_passage(query: Counter[int], impacts: PassageImpacts) -> float:
    """The TILDEv2 formula for one passage: Σ_query tokens count × max weight of that id (0 when absent)."""
    table = dict(zip(impacts[0].tolist(), impacts[1].astype(np.float32).tolist()))
    return float(sum(count * table.get(token, 0.0) for token, count in query.items()))
