"""ICR's prompt, built as In-Context-Reranking's ``_prepare_input_for_document_retrieval`` builds it.

One string, tokenized once: ``{role prefix}{header}{sep}[1] {doc 1}{sep}[2] {doc 2}…{sep}{instruction}{sep}Query:
{query}{role suffix}``. A document's span covers its ``[i] `` marker and its text; the query span runs from
the instruction to the last token (the role suffix included). Spans come from the tokenizer's offsets, so
the ids are exactly the tokenizer's ids of the whole string. The header, the ``[i] {doc}`` line and the
``Query: {query}`` line are the sections of an ``ICRTemplate`` (a component parameter); a document's span is
its whole rendered line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInputError
from core.prompt_template import PromptTemplate

INSTRUCTIONS = {  # the reference's retrieval_type "IE" (default for BEIR) and "QA" (QA-style datasets)
    "ie": "Please find information that are relevant to the following query in the paragraphs above.",
    "qa": "Please answer the following question based on the information in the paragraphs above.",
}


class ICRTemplate(PromptTemplate):
    """The reference's text around the documents and the query (the instruction is the reranker's own)."""

    header: str = " Here are some paragraphs:"
    passage: str = "[{number}] {passage}"
    query: str = "Query: {query}"

    placeholders = {"header": ((), ()), "passage": (("passage",), ("number",)), "query": (("query",), ())}


@dataclass(frozen=True)
class RoleMarkers:
    """Bare user/assistant markers around the prompt (no system turn) and the separator between parts."""

    prefix: str
    suffix: str
    separator: str = "\n\n"


# The reference wraps Mistral and Llama-3 only; ChatML (SmolLM2, Qwen) follows the same rule: the
# template's own user and assistant markers, without the default system turn.
_FAMILIES = (
    ("<|start_header_id|>", RoleMarkers("<|start_header_id|>user<|end_header_id|>",
                                        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>", " \n\n")),
    ("[INST]", RoleMarkers("[INST]", "[/INST]")),
    ("<|im_start|>", RoleMarkers("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")),
)


def role_markers(tokenizer: Any) -> RoleMarkers:
    """The markers for this tokenizer's chat family; other templates keep their full user turn."""
    template = tokenizer.chat_template or ""
    for marker, markers in _FAMILIES:
        if marker in template:
            return markers
    sentinel = "\u0000USER\u0000"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": sentinel}], tokenize=False,
                                           add_generation_prompt=True)
    before, after = prompt.split(sentinel)
    return RoleMarkers(before, after)


def resolve_instruction(instruction: str) -> str:
    """"ie" / "qa" name the reference's two wordings; any other non-empty text is used as written."""
    text = INSTRUCTIONS.get(instruction, instruction)
    if not text.strip():
        raise InvalidInputError("The ICR instruction must be non-empty.")
    return text


@dataclass(frozen=True)
class ICRPrompt:
    """Token ids of the whole prompt, each document's token span, and where the query span starts."""

    text: str
    ids: list[int]
    document_spans: list[tuple[int, int]]
    query_start: int


def _token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """Tokens overlapping characters [start, end) (special tokens have empty offsets and never do)."""
    inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    return inside[0], inside[-1] + 1


def build_icr_prompt(tokenizer: Any, markers: RoleMarkers, instruction: str, query: str,
                     passages: list[str], template: ICRTemplate = ICRTemplate()) -> ICRPrompt:
    """Assemble the string, tokenize it once (special tokens as the tokenizer adds them), map spans."""
    sep = markers.separator
    text = markers.prefix + template.header.format()
    char_spans = []
    for number, passage in enumerate(passages, start=1):
        text += sep
        line = template.passage.format(number=number, passage=passage)
        char_spans.append((len(text), len(text) + len(line)))
        text += line
    text += sep
    instruction_start = len(text)
    text += f"{instruction}{sep}{template.query.format(query=query.strip())}{markers.suffix}"
    encoded = tokenizer(text, return_offsets_mapping=True)
    offsets = [tuple(pair) for pair in encoded["offset_mapping"]]
    query_start = _token_span(offsets, instruction_start, len(text))[0]
    if offsets[query_start][0] != instruction_start:
        raise InvalidInputError("The tokenizer merges the instruction with the text before it; ICR needs a token "
                                "boundary there to reuse the document cache.")
    spans = [_token_span(offsets, start, end) for start, end in char_spans]
    return ICRPrompt(text, list(encoded["input_ids"]), spans, query_start)
