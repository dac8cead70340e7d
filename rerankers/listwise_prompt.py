"""The listwise ranking prompt: rank_llm's ``rank_zephyr_alpha_template.yaml`` assembled as its
``SingleTurnListwiseInferenceHandler`` and ``RankListwiseOSLLM.create_prompt`` assemble it.

User turn = prefix + one body line per passage + suffix (no blank lines: the prefix and every body line end
with "\\n", the suffix does not). A passage is "Title: {title} Content: {text}", ftfy-fixed, cut to the first
``max_words`` whitespace-separated words (title included), "[n]" → "(n)"; the query gets "[n]" → "(n)" too.
The chat-templated prompt is ftfy-fixed as a whole.
"""
from __future__ import annotations

import re
from typing import Any

from ftfy import fix_text
from haystack import Document

from core.prompt_template import PromptTemplate, parse_template, placeholder_names

_NUMBER = re.compile(r"\[(\d+)\]")


class ListwiseTemplate(PromptTemplate):
    """The sections of a rank_llm single-turn listwise template ({num}, {query}, {rank}, {candidate})."""

    placeholders = {"prefix": ((), ("num", "query")), "body": (("rank", "candidate"), ()),
                    "suffix": ((), ("num", "query"))}

    system_message: str = "You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query"
    prefix: str = ("I will provide you with {num} passages, each indicated by an alphabetical identifier []. "
                   "Rank the passages based on their relevance to the search query: {query}.\n")
    body: str = "[{rank}] {candidate}\n"
    suffix: str = ("Search Query: {query}.\nRank the {num} passages above based on their relevance to the search "
                   "query. All the passages should be included and listed using identifiers, in descending order of "
                   "relevance. The output format should be [] > [], e.g., [B] > [A], Answer concisely and directly "
                   "and only respond with the ranking results, do not say any word or explain.")

    def problems(self) -> list[str]:
        found = super().problems()
        try:
            names = placeholder_names(self.prefix) | placeholder_names(self.suffix)
        except ValueError:
            return found
        return found + ([] if "query" in names else ["the prefix or the suffix must contain {query}"])

    def user_message(self, query: str, passages: list[str], labels: list[str]) -> str:
        """Prefix, body lines and suffix; ``passages`` already formatted by ``passage_content``."""
        values = {"num": len(passages), "query": replace_numbers(query)}
        body = "".join(self.body.format(rank=label, candidate=passage) for label, passage in zip(labels, passages))
        return self.prefix.format(**values) + body + self.suffix.format(**values)


def listwise_template(template: dict[str, Any] | None) -> ListwiseTemplate:
    """The template from a component parameter (None → the rank_zephyr alpha default); clear errors."""
    return parse_template(ListwiseTemplate, template, "listwise")


def replace_numbers(text: str) -> str:
    """rank_llm's ``_replace_number``: "[12]" → "(12)", so text cannot look like an identifier."""
    return _NUMBER.sub(r"(\1)", text)


def passage_content(document: Document, max_words: int) -> str:
    """rank_llm's ``_convert_doc_to_prompt_content`` for a document with an optional title."""
    content = document.content or ""
    title = (document.meta or {}).get("title")
    if title:
        content = "Title: " + title + " " + "Content: " + content
    content = fix_text(content.strip())
    return replace_numbers(" ".join(content.split()[:max_words]))


def fix_prompt(prompt: str) -> str:
    """The whole chat-templated prompt goes through ftfy, as in rank_llm's ``create_prompt``."""
    return fix_text(prompt)
