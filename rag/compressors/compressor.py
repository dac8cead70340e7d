"""What every compressor shares: validation, token accounting in the answering LLM's tokens, the meta."""
from __future__ import annotations

import time
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from core.errors import InvalidInputError
from core.llm_backend import CallCounter, LLMBackend, get_llm
from core.settings import get_settings
from indexes.document_store import indexable_text


def context_tokens(llm: LLMBackend, documents: list[Document]) -> int:
    """Tokens the documents take in an answer prompt (title and text, in the LLM's tokenizer)."""
    return sum(llm.count_tokens(indexable_text(d)) for d in documents)


class Compressor:
    """Base of the compressors; subclasses implement ``_compress`` and are Haystack components.

    ``run`` returns the compressed documents and a meta with ``compression_ratio`` = tokens out / tokens in."""

    method = "compressor"

    def __init__(self, model: str | None = None) -> None:
        self.model = model or get_settings().llm_model

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def warm_up(self) -> None:
        """Load the LLM (token counts, summaries) into the cache ``run`` reads, before the first ``run``."""
        get_llm(self.model)

    def _compress(self, query: str, documents: list[Document], counter: CallCounter) -> list[Document]:
        raise NotImplementedError

    @component.output_types(documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document]) -> dict[str, Any]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("The question must be a non-empty string.")
        if not documents:
            return {"documents": [], "meta": {"method": self.method, "compression_ratio": 1.0, "tokens_in": 0,
                                              "tokens_out": 0, "latency_ms": 0.0, **CallCounter().as_dict()}}
        counter = CallCounter()
        began = time.perf_counter()
        compressed = self._compress(query, documents, counter)
        seconds = time.perf_counter() - began
        tokens_in, tokens_out = context_tokens(self.llm, documents), context_tokens(self.llm, compressed)
        meta = {"method": self.method, "model": self.model, "compression_ratio": round(tokens_out / max(tokens_in, 1), 4),
                "tokens_in": tokens_in, "tokens_out": tokens_out, "latency_ms": round(1000 * seconds, 3),
                **counter.as_dict()}
        return {"documents": compressed, "meta": meta}

    def init_parameters(self) -> dict[str, Any]:
        return {"model": self.model}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self.init_parameters())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Compressor":
        return default_from_dict(cls, data)


def with_content(document: Document, content: str, **meta: Any) -> Document:
    """A copy of ``document`` whose text is ``content`` (title and other meta kept)."""
    return Document(id=document.id, content=content, meta={**(document.meta or {}), **meta}, score=document.score)
