"""Training the TILDEv2 scorer: contrastive cross-entropy over groups of one positive and BM25 hard
negatives, plus in-batch negatives (every other query's group), as in the paper. Seeded and resumable:
a checkpoint (weights, optimizer, step) is written every ``checkpoint_every`` steps and picked up on restart.
"""
from __future__ import annotations

import math
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.device import torch_device
from indexes.tilde.scorer import TildeScorer


@dataclass
class TrainingConfig:
    encoder: str  # folder of a BERT-vocabulary encoder
    out: Path
    epochs: int = 2
    batch_queries: int = 8
    group_size: int = 8  # 1 positive + (group_size - 1) hard negatives
    learning_rate: float = 2e-4
    max_length: int = 384
    seed: int = 13
    checkpoint_every: int = 50


@dataclass
class TrainingExample:
    query: str
    positives: list[str]  # passage texts (expanded)
    negatives: list[str]  # hard negatives, best BM25 rank first


def batch_scores(query_ids: torch.Tensor, passage_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B queries × N passages) TILDEv2 scores: Σ over query tokens of the max weight of that id in the passage.

    ``query_ids`` (B, Lq) padded with -1; ``passage_ids`` and ``weights`` (N, Lp), weights 0 where unscorable.
    """
    match = query_ids[:, None, :, None] == passage_ids[None, :, None, :]  # B, N, Lq, Lp
    best = (match * weights[None, :, None, :]).amax(dim=-1)  # B, N, Lq
    return best.sum(dim=-1)


def padded_query_ids(scorer: TildeScorer, queries: list[str]) -> torch.Tensor:
    """Every WordPiece of each query (no stop list while training, as in ielab/TILDE), padded with -1."""
    tokenized = scorer.tokenizer(queries, add_special_tokens=False, truncation=True, max_length=scorer.max_length)
    rows = [ids or [-1] for ids in tokenized["input_ids"]]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows])


def make_group(example: TrainingExample, group_size: int, rng: random.Random) -> list[str]:
    negatives = rng.sample(example.negatives, min(group_size - 1, len(example.negatives)))
    while len(negatives) < group_size - 1:  # few candidates: repeat (they still count as negatives)
        negatives.append(rng.choice(example.negatives))
    return [rng.choice(example.positives)] + negatives


def train_scorer(config: TrainingConfig, examples: list[TrainingExample],
                 progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Train and save a scorer into ``config.out`` (atomically); resume from its checkpoint if present."""
    examples = [e for e in examples if e.positives and e.negatives]
    if not examples:
        raise ValueError("No training examples with both a positive and a negative passage.")
    device = torch_device()
    torch.manual_seed(config.seed)
    scorer = TildeScorer.from_encoder(config.encoder, config.max_length).to(device)
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(examples) / config.batch_queries)
    total = steps_per_epoch * config.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    checkpoint = config.out.with_name(config.out.name + ".checkpoint") / "state.pt"
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        scorer.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
    scorer.train()
    loss_value = float("nan")
    while step < total:
        epoch, position = divmod(step, steps_per_epoch)
        order = list(range(len(examples)))
        random.Random(config.seed + epoch).shuffle(order)
        rng = random.Random(config.seed * 100_003 + step)  # per-step sampling and dropout: identical after a resume
        torch.manual_seed(config.seed * 100_003 + step)
        batch = [examples[i] for i in order[position * config.batch_queries:(position + 1) * config.batch_queries]]
        passages = [text for e in batch for text in make_group(e, config.group_size, rng)]
        tokens = scorer.tokenize_passages(passages).to(device)
        weights = scorer.token_weights(tokens["input_ids"], tokens["attention_mask"], scorable_only=False)
        scores = batch_scores(padded_query_ids(scorer, [e.query for e in batch]).to(device),
                              tokens["input_ids"], weights)
        targets = torch.arange(len(batch), device=device) * config.group_size
        loss = torch.nn.functional.cross_entropy(scores, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_value = loss.item()
        if progress:
            progress(step, total, loss_value)
        if step % config.checkpoint_every == 0 and step < total:
            save_checkpoint(checkpoint, scorer, optimizer, schedule, step)
    scorer.eval()
    scorer.info.update(training=asdict(config) | {"out": str(config.out), "examples": len(examples),
                                                   "steps": total, "final_loss": round(loss_value, 4)})
    staging = config.out.with_name(config.out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    scorer.save(staging)
    if config.out.exists():
        shutil.rmtree(config.out)
    staging.replace(config.out)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    return config.out


def save_checkpoint(path: Path, scorer: TildeScorer, optimizer, schedule, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save({"model": scorer.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": step}, partial)
    partial.replace(path)
