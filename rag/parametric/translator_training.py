"""Training a DyPRAG translator (the reference's ``src/train_dyprag.py``): (1) documents = the top-3 passages
retrieved for training questions; (2) for each, PRAG augmentation (rewrite + QA triples) and a PRAG LoRA —
the translator's targets; (3) the translator learns, per document, on its first example (first QA triple,
passage in the prompt, every token learned): LM loss with ΔW = B·A injected + 0.01 · KL(translated ‖ PRAG
model, summed over the sequence's positions: the reference's ``batchmean`` with batch 1) + 100 · Σ MSE(A, B
to the PRAG factors); AdamW 1e-5, one epoch. Step 2 is cached per document, so a cancelled or crashed job
resumes there; the translator is published atomically (written aside, then switched in by ``publish_folder``)."""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from core.atomic_publish import publish_folder, staging_folder, written_aside
from core.errors import InvalidInputError
from core.llm_backend import LLMBackend, get_llm
from core.lora_delta import LoraDelta
from indexes.document_store import indexable_text
from rag.parametric.document_augmentation import augment, training_examples
from rag.parametric.document_embedding import document_embeddings
from rag.parametric.prag_lora import LoraSettings, PragTrainer
from rag.parametric.translator import ParameterTranslator, TranslatorConfig
from rag.retrieval import make_retriever

Progress = Callable[[int, int], None]
AUGMENTATION_VERSION = 2  # the reference's rewrite + JSON QA triples (1: our earlier grounded QA pairs)


@dataclass(frozen=True)
class DypragTraining:
    model: str
    documents: int = 32  # documents with a PRAG LoRA: the last ``validation_documents`` are held out
    validation_documents: int = 6  # never trained on: the translator's quality is measured on them
    question_offset: int = 200  # training questions start here (the first ones stay an untouched test sample)
    docs_per_question: int = 3
    epochs: int = 1
    learning_rate: float = 1e-5
    kl_weight: float = 0.01
    mse_weight: float = 100.0
    projector_hidden: int = 32
    lora_rank: int = 2  # PRAG LoRA of each document
    lora_alpha: int = 32
    lora_learning_rate: float = 3e-4
    lora_epochs: int = 1
    augmentation_attempts: int = 2  # QA sampling rounds per document until three triples are found
    seed: int = 13

    @property
    def questions_needed(self) -> int:
        """How many of the dataset's questions (file order) the training may read: its passages come from those
        after ``question_offset``."""
        return self.question_offset + 20 * self.documents

    @property
    def lora(self) -> LoraSettings:
        return LoraSettings(self.lora_rank, self.lora_alpha, self.lora_learning_rate, self.lora_epochs)

    @classmethod
    def from_options(cls, model: str, options: dict[str, Any]) -> DypragTraining:
        """Settings from user options; an unknown or mistyped option is a clear error."""
        try:
            settings = cls(model=model, **options)
        except TypeError as error:
            raise InvalidInputError(f"Invalid DyPRAG training option: {error}.") from error
        if min(settings.documents, settings.epochs, settings.lora_epochs, settings.augmentation_attempts) < 1:
            raise InvalidInputError("documents, epochs, lora_epochs and augmentation_attempts must be at least 1.")
        if not 0 <= settings.validation_documents < settings.documents:
            raise InvalidInputError("validation_documents must be at least 0 and fewer than documents.")
        return settings


@dataclass
class DocumentPair:
    """A document with what the translator learns from it."""

    passage: str
    examples: list[list[int]]  # the PRAG examples; the translator learns on the first
    target: LoraDelta
    embedding: torch.Tensor
    qa_pairs: int
    prag_loss: tuple[float, float]
    qa_from_json: int = 0  # of qa_pairs, from the reference's JSON prompt


def train_and_publish(settings: DypragTraining, dataset: Path, questions: Sequence[str], collection: str,
                      folder: Path, progress: Progress) -> dict[str, Any]:
    """The whole training: pairs (cached beside ``folder``), translator, validation on the held-out documents,
    atomic publication. ``questions``: the first ``settings.questions_needed`` questions of ``dataset``, in file
    order (the job reads them). ``progress(done, total)`` counts documents, translator steps, validation documents."""
    began = time.time()
    passages = training_passages(dataset, questions, collection, settings)
    estimate = len(passages) + settings.epochs * (len(passages) - settings.validation_documents)
    pairs = build_pairs(passages, settings, folder.with_name(f".{folder.name}.pairs"),
                        lambda done, _: progress(done, estimate))
    if len(pairs) < 2:
        raise InvalidInputError(f"Only {len(pairs)} of {len(passages)} documents yielded QA triples: "
                                "train on more documents.")
    held_out = min(settings.validation_documents, len(pairs) - 1)
    trained_on = len(pairs) - held_out
    total = len(passages) + settings.epochs * trained_on + held_out
    translator, history = train_translator(pairs[:trained_on], settings,
                                           lambda done, _: progress(len(passages) + done, total))
    validation = validation_losses(translator, pairs[trained_on:], settings,
                                   lambda done, _: progress(total - held_out + done, total)) if held_out else None
    report = training_report(settings, len(passages), pairs, held_out, history, validation, began)
    publish(translator, folder, {**report, "dataset": str(dataset)})
    return {"translator": str(folder), **{k: v for k, v in report.items() if k != "settings"}}


def training_passages(dataset: Path, questions: Sequence[str], collection: str,
                      settings: DypragTraining) -> list[str]:
    """Distinct top-k passages of the training questions (``dataset``'s, in file order from ``question_offset``)."""
    questions = questions[settings.question_offset:]
    if not questions:
        raise InvalidInputError(f"{dataset} has no questions after the first {settings.question_offset}.")
    retriever = make_retriever("bm25", collection)
    passages: list[str] = []
    for question in questions:
        for document in retriever.run(question, settings.docs_per_question)["documents"]:
            text = indexable_text(document)
            if text not in passages:
                passages.append(text)
            if len(passages) == settings.documents:
                return passages
    return passages


def build_pairs(passages: list[str], settings: DypragTraining, cache: Path, progress: Progress) -> list[DocumentPair]:
    """Augmentation, PRAG LoRA and embedding per document, each cached under ``cache``."""
    llm = get_llm(settings.model)
    trainer: PragTrainer | None = None
    cache.mkdir(parents=True, exist_ok=True)
    pairs = []
    for number, passage in enumerate(passages):
        file = cache / f"{_digest(passage, settings)}.pt"
        if file.exists():
            stored = torch.load(file, weights_only=False)
        else:
            seed = settings.seed + int(file.stem[:6], 16)
            augmentation = augment(llm, passage, seed, settings.augmentation_attempts)
            examples = training_examples(llm, augmentation)
            stored = {"examples": examples, "qa_pairs": len(augmentation.qa), "attempts": augmentation.attempts,
                      "qa_from_json": augmentation.from_json,
                      "rewrite": augmentation.rewrite, "qa": [asdict(p) for p in augmentation.qa]}
            if examples:
                trainer = trainer or PragTrainer(settings.model, settings.lora)
                trained = trainer.train(examples, settings.seed)
                stored.update({"factors": trained.delta.factors, "scale": trained.delta.scale,
                               "embedding": document_embeddings(llm, [passage])[0],
                               "prag_loss": (trained.loss_before, trained.loss_after)})
            with written_aside(file) as partial:
                torch.save(stored, partial)
        if stored["examples"]:  # a document without a usable QA triple is skipped, as in the reference
            pairs.append(DocumentPair(passage, stored["examples"], LoraDelta(stored["factors"], stored["scale"]),
                                      stored["embedding"], stored["qa_pairs"], tuple(stored["prag_loss"]),
                                      stored["qa_from_json"]))
        progress(number + 1, len(passages))
    return pairs


def train_translator(pairs: list[DocumentPair], settings: DypragTraining, progress: Progress) -> tuple[
        ParameterTranslator, list[dict[str, float]]]:
    """The translator trained on ``pairs``; returns it with the mean losses of each epoch."""
    llm = get_llm(settings.model)
    config = llm.config
    translator = ParameterTranslator(TranslatorConfig(
        base_model=settings.model, layers=config.num_hidden_layers, hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, rank=settings.lora.rank, alpha=settings.lora.alpha,
        projector_hidden=settings.projector_hidden)).to(llm.device)
    optimizer = torch.optim.AdamW(translator.parameters(), lr=settings.learning_rate)
    history = []
    order = list(range(len(pairs)))
    for epoch in range(settings.epochs):
        random.Random(settings.seed + epoch).shuffle(order)
        sums = {"lm": 0.0, "kl": 0.0, "mse": 0.0, "total": 0.0}
        for step, index in enumerate(order):
            parts = _losses(llm, translator, pairs[index], settings)
            total = parts["lm"] + settings.kl_weight * parts["kl"] + settings.mse_weight * parts["mse"]
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            for key, value in {**parts, "total": total}.items():
                sums[key] += float(value.detach()) / len(pairs)
            progress(epoch * len(pairs) + step + 1, settings.epochs * len(pairs))
        history.append({k: round(v, 5) for k, v in sums.items()})
    return translator.cpu().eval(), history


def _losses(llm: LLMBackend, translator: ParameterTranslator, pair: DocumentPair,
            settings: DypragTraining) -> dict[str, torch.Tensor]:
    """LM loss with the translated ΔW, KL to the PRAG-LoRA model, MSE to the PRAG factors (one document, its
    first example, every position)."""
    student = translator.delta(pair.embedding.to(llm.device))
    teacher = pair.target.to(llm.device, torch.float32)
    with torch.no_grad():
        teacher_logits = llm.lm_outputs(pair.examples[0], teacher)[0].float()
    logits, lm = llm.lm_outputs(pair.examples[0], student)
    kl = F.kl_div(F.log_softmax(logits.float(), dim=-1), F.softmax(teacher_logits, dim=-1), reduction="sum")
    mse = sum(F.mse_loss(a, teacher.factors[k][0]) + F.mse_loss(b, teacher.factors[k][1])
              for k, (a, b) in student.factors.items())
    return {"lm": lm, "kl": kl, "mse": mse}


@torch.no_grad()
def validation_losses(translator: ParameterTranslator, pairs: list[DocumentPair], settings: DypragTraining,
                      progress: Progress) -> dict[str, float]:
    """Mean LM loss on held-out documents' examples: base model, its PRAG LoRA, its translated LoRA, and the
    LoRA translated from another held-out document (how much of the gain is specific to the document)."""
    llm = get_llm(settings.model)
    translator = translator.to(llm.device)
    sums = {"base": 0.0, "prag": 0.0, "translated": 0.0, "translated_other_document": 0.0}
    for number, pair in enumerate(pairs):
        other = pairs[(number + 1) % len(pairs)]
        deltas = {"base": None, "prag": pair.target.to(llm.device, torch.float32),
                  "translated": translator.delta(pair.embedding.to(llm.device)),
                  "translated_other_document": translator.delta(other.embedding.to(llm.device))}
        for name, delta in deltas.items():
            sums[name] += _lm_loss(llm, pair.examples, delta) / len(pairs)
        progress(number + 1, len(pairs))
    translator.cpu()
    return {name: round(value, 4) for name, value in sums.items()}


def _lm_loss(llm: LLMBackend, examples: list[list[int]], delta: LoraDelta | None) -> float:
    return sum(float(llm.lm_outputs(ids, delta)[1]) for ids in examples) / len(examples)


def publish(translator: ParameterTranslator, folder: Path, report: dict[str, Any]) -> Path:
    """Write the translator into a staging folder beside ``folder`` and switch ``folder`` (a link to the
    version) to it, so readers never see half a translator."""
    with staging_folder(folder.parent, prefix=f".{folder.name}.staging-") as staging:
        translator.save(staging)
        (staging / "training.json").write_text(json.dumps(report, indent=2))
        return publish_folder(staging, folder)


def training_report(settings: DypragTraining, tried: int, pairs: list[DocumentPair], held_out: int,
                    history: list[dict[str, float]], validation: dict[str, float] | None,
                    began: float) -> dict[str, Any]:
    return {"settings": asdict(settings), "documents_tried": tried, "documents": len(pairs),
            "augmentation_yield": round(len(pairs) / max(1, tried), 3),
            "validation_documents": held_out, "validation_lm_loss": validation,
            "qa_pairs_per_document": round(sum(p.qa_pairs for p in pairs) / max(1, len(pairs)), 2),
            "json_qa_pairs_per_document": round(sum(p.qa_from_json for p in pairs) / max(1, len(pairs)), 2),
            "prag_loss_before": _mean(p.prag_loss[0] for p in pairs),
            "prag_loss_after": _mean(p.prag_loss[1] for p in pairs),
            "translator_epochs": history, "seconds": round(time.time() - began, 1)}


def _mean(values: Any) -> float:
    values = list(values)
    return round(sum(values) / max(1, len(values)), 4)


def _digest(passage: str, settings: DypragTraining) -> str:
    key = json.dumps([AUGMENTATION_VERSION, passage, settings.model, asdict(settings.lora), settings.seed,
                      settings.augmentation_attempts])
    return hashlib.sha256(key.encode()).hexdigest()[:24]
