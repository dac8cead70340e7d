"""TCRA summarization compression: each passage is replaced by an LLM summary of a target length."""
from __future__ import annotations

import hashlib
import math
from typing import Any

from haystack import Document, component

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from core.prompt_template import parse_template
from core.settings import get_settings
from indexes.content_cache import ContentCache, cached_compute
from rag.compressors.compressor import Compressor, with_content
from rag.compressors.summarizer import LLMSummarizer, Summarizer, SummaryTemplate


@component
class SummaryCompressor(Compressor):
    """Per passage: summary of at most ``ratio`` × its tokens (passages under ``min_tokens`` stay as they are).

    Summaries are query-independent, as in TCRA, so they are cached by content hash, model, ratio and prompt.
    ``template``: the summarizer's sections (this compressor uses ``generic``); None = the default prompts."""

    method = "tcra-summary"

    def __init__(self, model: str | None = None, ratio: float = 0.35, min_tokens: int = 24, batch_size: int = 8,
                 cache: bool = True, summarizer: Summarizer | None = None,
                 template: dict[str, str] | None = None) -> None:
        if not 0 < ratio < 1:
            raise InvalidInputError("ratio must be between 0 and 1 (tokens of the summary / tokens of the passage).")
        Compressor.__init__(self, model)
        self.ratio = ratio
        self.min_tokens = min_tokens
        self.batch_size = batch_size
        self.cache = cache
        self._summarizer = summarizer
        self.template = parse_template(SummaryTemplate, template, "summary")

    @property
    def summarizer(self) -> Summarizer:
        return self._summarizer or LLMSummarizer(self.llm, self.batch_size, self.template)

    def _compress(self, query: str, documents: list[Document], counter: CallCounter) -> list[Document]:
        texts = [d.content or "" for d in documents]
        sizes = [self.llm.count_tokens(t) for t in texts]
        long = [i for i, size in enumerate(sizes) if size > self.min_tokens]
        summaries = self._summaries([texts[i] for i in long], counter)
        contents = list(texts)
        for i, summary in zip(long, summaries):
            contents[i] = summary
        return [with_content(d, c, compressed=i in long) for i, (d, c) in enumerate(zip(documents, contents))]

    def _summaries(self, texts: list[str], counter: CallCounter) -> list[str]:
        def compute(batch: list[str]) -> list[str]:
            budgets = [max(8, math.ceil(self.ratio * self.llm.count_tokens(t))) for t in batch]
            return self.summarizer.summarize(batch, budgets, None, counter)

        if not self.cache or self._summarizer is not None:
            return compute(texts)
        prompt = self.template.generic  # a custom prompt gets its own cache; the default keeps the old name
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        tag = "" if prompt == SummaryTemplate().generic else f"-p{digest}"
        name = f"summaries-{self.model}-r{self.ratio:g}{tag}.sqlite".replace("/", "_")
        store = ContentCache(get_settings().data_dir / "cache" / name, "summaries", ("text",))
        try:
            return cached_compute(texts, store, compute, lambda s: (s,), lambda row: row[0], chunk=64)
        finally:
            store.close()

    def init_parameters(self) -> dict[str, Any]:
        return {**Compressor.init_parameters(self), "ratio": self.ratio, "min_tokens": self.min_tokens,
                "batch_size": self.batch_size, "cache": self.cache, "template": self.template.model_dump()}
