"""DyPRAG at inference: retrieve the top-3 passages, translate each into LoRA factors, average A and B, and
answer with ΔW = B·A injected into the MLPs for this request only. ``dyprag`` puts only the question in the
prompt; ``dyprag-combine`` puts the passages there too."""
from __future__ import annotations

import time
from typing import Any

import torch

from core.errors import InvalidInputError
from core.llm_backend import CallCounter, LLMBackend
from core.lora_delta import LoraDelta
from core.settings import get_settings
from indexes.document_store import indexable_text
from rag.dynamic.loop import DynamicAnswerer, DynamicResult
from rag.dynamic.methods import PARAMETRIC as MODES
from rag.parametric.document_embedding import document_embeddings
from rag.parametric.translator import ParameterTranslator
from rag.parametric.translator_store import load_translator


class DypragAnswerer:
    """Answers like ``DynamicAnswerer`` (same prompt and sentence loop) with the documents as parameters."""

    def __init__(self, collection: str, mode: str = "dyprag", retriever: str = "bm25", top_k: int = 3,
                 model: str | None = None, translator: str | None = None, max_new_tokens: int = 96,
                 **loop_options: Any) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown DyPRAG mode '{mode}': choose one of {', '.join(MODES)}.")
        self.mode = mode
        self.model = model or get_settings().llm_model
        self.translator = load_translator(translator)
        if self.translator.config.base_model != self.model:
            raise InvalidInputError(f"The DyPRAG translator was trained for '{self.translator.config.base_model}', "
                                    f"not '{self.model}': train one for this model or answer with that one.")
        self.loop = DynamicAnswerer(collection, "none", retriever, top_k=top_k, model=self.model,
                                    max_new_tokens=max_new_tokens, **loop_options)

    def use_collection(self, collection: str) -> None:
        self.loop.use_collection(collection)

    def run(self, question: str) -> DynamicResult:
        if not question.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        began = time.perf_counter()
        documents = self.loop.retriever.run(question, self.loop.top_k)["documents"]
        llm = self.loop.llm
        translation = CallCounter()
        delta_seconds = time.perf_counter()
        passages = [indexable_text(d) for d in documents]
        delta = translate_documents(self.translator, llm, passages, translation) if documents else None
        delta_seconds = time.perf_counter() - delta_seconds
        with llm.with_delta(delta):
            result = self.loop.run(question, documents if self.mode == "dyprag-combine" else None)
        result.counter.forward_passes += translation.forward_passes
        result.counter.prompt_tokens += translation.prompt_tokens
        result.queries.insert(0, question)
        result.documents = documents
        result.parametric = {"documents": len(documents), "translate_ms": round(1000 * delta_seconds, 3),
                             "translate_tokens": translation.prompt_tokens}
        result.seconds = time.perf_counter() - began
        return result


@torch.no_grad()
def translate_documents(translator: ParameterTranslator, llm: LLMBackend, passages: list[str],
                        counter: CallCounter | None = None) -> LoraDelta:
    """The averaged translated LoRA of ``passages`` (mean A, mean B), on the model's device and dtype."""
    embeddings = document_embeddings(llm, passages, counter)
    translated = [translator.delta(e) for e in embeddings]
    return LoraDelta.average(translated).to(llm.device, llm.dtype)
