"""ICR: in-context reranking from the attention the query pays to each document (Chen et al., 2024).

All candidates go in one prompt (``icr_prompt``), the instruction and the query last. The document prefix
is encoded once; its KV cache serves two short passes: the real query and the content-free query "N/A".
The calibrated score of a token is a_query(t) − a_NA(t), where a(t) is the attention from the query span
summed over the chosen layers and all heads and averaged over query tokens. Tokens not above
mean − 2·std of their document are masked; a document's score is the sum of the rest.
"""
from __future__ import annotations

from typing import Any

import torch
from haystack import Document, component

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from core.prompt_template import parse_template
from rerankers.icr_prompt import (
    INSTRUCTIONS,
    ICRPrompt,
    ICRTemplate,
    RoleMarkers,
    build_icr_prompt,
    resolve_instruction,
    role_markers,
)
from rerankers.llm_reranker import LLMReranker, Ranking, RerankCounter

CALIBRATION_QUERY = "N/A"


def parse_layers(spec: str | None, total: int) -> range:
    """"" or None → all layers; "a:b" → layers a..b-1 (Python slice semantics, negatives allowed)."""
    if not spec:
        return range(total)
    try:
        start, end = (int(x) if x else None for x in spec.split(":"))
    except ValueError:
        raise InvalidInputError(f"Layer range '{spec}' must look like 'start:end'.") from None
    chosen = range(total)[slice(start, end)]
    if not chosen:
        raise InvalidInputError(f"Layer range '{spec}' selects no layer of {total}.")
    return chosen


def calibrated_document_scores(a_query: torch.Tensor, a_na: torch.Tensor, spans: list[tuple[int, int]]) -> list[float]:
    """Per document: sum of calibrated token scores, tokens below mean − 2·std of the document masked."""
    calibrated = a_query - a_na
    scores = []
    for start, end in spans:
        values = calibrated[start:end]
        if values.numel() > 1:
            floor = values.mean() - 2 * values.std()
            values = values[values > floor]  # strict, as the reference
        scores.append(float(values.sum()))
    return scores


@component
class ICRReranker(LLMReranker):
    """Attention-based reranking in O(1) forward passes per query (one prefix + two query spans)."""

    method = "icr"
    default_passage_words = 300

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int | None = None,
                 layers: str | None = None, reverse_order: bool = True, instruction: str = INSTRUCTIONS["ie"],
                 template: dict[str, str] | None = None, first_stage_weight: float | None = None) -> None:
        """``instruction``: the late instruction text, or "ie" / "qa" for the reference's two wordings
        (it uses "qa" for trec-covid, fiqa, webis-touche2020, dbpedia-entity and nq). ``template``: the
        sections ``header``, ``passage`` ({number}, {passage}) and ``query`` ({query}); None = the
        reference's."""
        LLMReranker.__init__(self, model, top_k, passage_words, first_stage_weight)
        self.layers = layers
        self.reverse_order = reverse_order
        self.instruction = resolve_instruction(instruction)
        self.template = parse_template(ICRTemplate, template, "ICR")

    def init_parameters(self) -> dict[str, Any]:
        return {**LLMReranker.init_parameters(self), "layers": self.layers, "reverse_order": self.reverse_order,
                "instruction": self.instruction, "template": self.template.model_dump()}

    def passages(self, documents: list[Document], words: int | None = None) -> list[str]:
        """The reference's passage: title + "\n" + text cut to ``words`` (default ``passage_words``)
        space-separated words."""
        texts = []
        for document in documents:
            text = " ".join((document.content or "").split(" ")[: words or self.passage_words])
            title = (document.meta or {}).get("title")
            texts.append((f"{title}\n{text}" if title else text).strip())
        return texts

    def build_prompt(self, markers: RoleMarkers, query: str, passages: list[str]) -> ICRPrompt:
        """The prompt of ``query`` over ``passages`` with this reranker's instruction and template."""
        return build_icr_prompt(self.llm.tokenizer, markers, self.instruction, query, passages, self.template)

    def fitted_words(self, query: str, documents: list[Document]) -> int:
        """``passage_words``, or fewer words per passage (as rank_llm does for listwise windows) until the prompt
        fits the model's context: the reference's 300 words assume a 128k-token model. A prompt too long even at
        one word per passage is the backend's error naming its token count."""
        start = words = min(self.passage_words, max((len((d.content or "").split(" ")) for d in documents), default=1))
        markers = role_markers(self.llm.tokenizer)
        longest = max(query, CALIBRATION_QUERY, key=self.llm.count_tokens)
        while True:
            length = len(self.build_prompt(markers, longest, self.passages(documents, words)).ids)
            if length <= self.llm.context_length or words <= 1:
                return self.passage_words if words == start else words
            words = max(1, min(words - 1, words * self.llm.context_length // length))

    def attention_scores(self, query: str, passages: list[str], counter: CallCounter | None = None) -> list[float]:
        """Calibrated ICR score of each passage, in the order given."""
        markers = role_markers(self.llm.tokenizer)
        real = self.build_prompt(markers, query, passages)
        calibration = self.build_prompt(markers, CALIBRATION_QUERY, passages)
        prefix = real.ids[: real.query_start]
        if calibration.ids[: calibration.query_start] != prefix:
            raise InvalidInputError("The query changed the tokens of the documents; the cache cannot be shared.")
        layers = parse_layers(self.layers, self.llm.config.num_hidden_layers)
        spans = [real.ids[real.query_start:], calibration.ids[calibration.query_start:]]
        a_query, a_na = (
            rows[..., : len(prefix)].sum(dim=(0, 1)).mean(dim=0)  # sum layers and heads, mean query tokens
            for rows in self.llm.query_attention(prefix, spans, layers, counter)
        )
        return calibrated_document_scores(a_query, a_na, real.document_spans)

    def _rank(self, query: str, documents: list[Document], counter: RerankCounter) -> Ranking:
        order = list(range(len(documents)))
        if self.reverse_order:  # the first-stage best goes last, closest to the query
            order.reverse()
        ordered = [documents[i] for i in order]
        words = self.fitted_words(query, ordered)
        counter.note_passage_words(words)  # below passage_words: the passages were shortened to fit
        passages = self.passages(ordered, words)
        scores = self.attention_scores(query, passages, counter)
        by_document = {index: score for index, score in zip(order, scores)}
        return sorted(by_document.items(), key=lambda item: (-item[1], item[0]))
