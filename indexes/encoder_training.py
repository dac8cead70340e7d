"""Fine-tuning the sentence encoder of the dense index with sentence-transformers' own ``SentenceTransformerTrainer``
and ``MultipleNegativesRankingLoss`` (in-batch negatives plus one mined hard negative per query, as GPL and the
sentence-transformers recipes train retrievers). Batches hold no duplicate text (an in-batch "negative" that is the
positive would teach the wrong thing); checkpoints let an interrupted run resume."""
from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.device import torch_device
from core.errors import InvalidInputError
from core.model_loading import load_sentence_embedder
from core.quiet_loading import quiet_transformers
from core.trainer_progress import Progress, loss_curve, train_reporting


class EncoderTraining(BaseModel):
    """Hyper-parameters of one encoder fine-tuning run."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(1, ge=1, le=10)
    batch_size: int = Field(32, ge=4, le=512, description="queries per step (each its positive and a negative)")
    learning_rate: float = Field(2e-5, gt=0, le=1e-3)
    warmup_ratio: float = Field(0.1, ge=0, le=0.5)
    max_length: int = Field(256, ge=32, le=512, description="tokens of a passage read while training")
    checkpoint_steps: int = Field(20, ge=1, description="steps between checkpoints (what a rerun resumes from)")
    seed: int = 13


Triples = Sequence[tuple[str, str, str]]


def train_encoder(base: str, config: EncoderTraining, triples: Triples | Mapping[str, Triples], out: Path,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Fine-tune ``base`` on (query, positive, negative) triples and save it to ``out`` (a new folder); the
    record of the run (steps, loss curve, seconds). Checkpoints live beside ``out`` until it is saved. Triples
    given per source (a mapping) are batched one source at a time, in proportion to their sizes (sentence-
    transformers' multi-dataset sampler): in-batch negatives then come from the same corpus, and a batch of short
    passages is not padded to another corpus' long ones."""
    from datasets import Dataset, DatasetDict
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers
    from transformers import set_seed

    sources = dict(triples) if isinstance(triples, Mapping) else {"all": triples}
    count = sum(len(part) for part in sources.values())
    if count < 2:
        raise InvalidInputError(f"Fine-tuning an encoder needs at least 2 training queries, not {count}.")
    began = time.time()
    set_seed(config.seed)
    with quiet_transformers():
        model = load_sentence_embedder(base)
    model.to(torch_device())
    serving_length = model.max_seq_length
    model.max_seq_length = config.max_length
    datasets = {name: Dataset.from_dict({"anchor": [t[0] for t in part], "positive": [t[1] for t in part],
                                         "negative": [t[2] for t in part]}) for name, part in sources.items() if part}
    dataset = DatasetDict(datasets) if len(datasets) > 1 else next(iter(datasets.values()))
    checkpoints = out.with_name(f".{out.name}.checkpoints")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, seed=config.seed,
        data_seed=config.seed, batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL, save_strategy="steps",
        save_steps=config.checkpoint_steps, save_total_limit=1, logging_steps=1, report_to="none",
        disable_tqdm=True, dataloader_pin_memory=False)

    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))
    with quiet_transformers():  # no "Writing model shards" bars per checkpoint and at the end
        resume = train_reporting(trainer, checkpoints, progress)
        model.max_seq_length = serving_length  # serve with the base model's passage length
        model.save(str(out))
    shutil.rmtree(checkpoints, ignore_errors=True)
    losses = loss_curve(trainer)
    return {"base_model": base, "library": "sentence-transformers SentenceTransformerTrainer, "
            "MultipleNegativesRankingLoss (in-batch + 1 mined negative), BatchSamplers.NO_DUPLICATES"
            + (", MultiDatasetBatchSamplers.PROPORTIONAL (one source per batch)" if len(datasets) > 1 else ""),
            "triples": {name: len(part) for name, part in sources.items()},
            "hyperparameters": config.model_dump(), "steps": trainer.state.global_step, "loss_curve": losses,
            "final_loss": losses[-1][1] if losses else None, "resumed": resume,
            "seconds": round(time.time() - began, 1), "device": str(model.device)}
