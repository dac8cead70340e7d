"""Sentence encoders fine-tuned on judged training queries (``siftrag train embedder``), published by name under
``<data_dir>/models/encoders/<name>`` (what training writes) or shipped under ``models/encoders/<name>``; a name
serves wherever a registry encoder does (the dense index, ``embedding``). Weights may be stored in fp16 (half the
size); they load as fp32 on the CPU."""
from __future__ import annotations

import hashlib
import json
import shutil
from typing import Any

from core.adapters import TRAINING_FILE, adapter_dir
from core.atomic_publish import publish_folder
from core.model_registry import TRAINED_ENCODERS
from core.trainer_progress import Progress
from indexes.encoder_training import EncoderTraining, Triples, train_encoder

ENCODER_KIND = "encoder"  # ``kind`` in the training.json of a trained encoder folder


def train_and_publish_encoder(name: str, base: str, config: EncoderTraining, triples: dict[str, Triples],
                              data_record: dict[str, Any], half: bool = True,
                              progress: Progress | None = None) -> dict[str, Any]:
    """Fine-tune ``base`` on (query, positive, negative) ``triples`` by source and publish it atomically as the
    encoder ``name`` with its ``training.json`` (``data_record`` says what the triples came from); an interrupted run
    resumes from its checkpoint (the work folder is keyed by the base, the settings and the data)."""
    import torch
    from sentence_transformers import SentenceTransformer

    target = adapter_dir(TRAINED_ENCODERS, name)
    key = hashlib.sha256(json.dumps([base, config.model_dump(), half, triples]).encode()).hexdigest()[:16]
    work = target.with_name(f".{name}.work-{key}")  # its checkpoints beside it: a rerun of the same run resumes
    shutil.rmtree(work, ignore_errors=True)  # a model saved by a run that crashed before publishing
    record = train_encoder(base, config, triples, work, progress)
    if half:
        model = SentenceTransformer(str(work), device="cpu")
        model.to(torch.float16)
        shutil.rmtree(work)
        model.save(str(work))
    record = {"kind": ENCODER_KIND, **record, "stored_dtype": "float16" if half else "float32",
              "data": data_record}
    (work / TRAINING_FILE).write_text(json.dumps(record, indent=1) + "\n")
    publish_folder(work, target)
    return record

