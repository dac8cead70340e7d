"""Synthetic queries from a collection's own passages (InPars, Promptagator): the local LLM writes one query per
passage, greedily, after three generic (passage, query) demonstrations in three styles or, given a few of the operator's example
queries, after those examples with the passages BM25 finds for them (their style). Queries are cached by the
prompt's content hash per model, so a rerun or a resumed job generates only what is new."""
from __future__ import annotations

import re
from collections.abc import Sequence

from core.errors import InvalidInputError
from core.llm_backend import get_llm
from core.settings import get_settings
from indexes.collection import Collection
from indexes.content_cache import ContentCache, cached_compute
from indexes.contract import ProgressCallback
from indexes.document_store import indexable_text

PASSAGE_WORDS = 120  # the passage's opening the prompt shows (queries are about what a passage is about)
MAX_QUERY_TOKENS = 40
MAX_QUERY_WORDS = 40
MIN_EXAMPLES, MAX_EXAMPLES = 2, 8
DEMONSTRATION_WORDS = 60  # a few-shot demonstration's passage: shorter, the prompt holds up to eight
COPY_WORDS = 8
INSTRUCTION = "Write one search query that a user could type to find the passage below. Reply with the query only."
_WORD = re.compile(r"\w+")
DEMONSTRATIONS = (  # (passage, query) turns shown before the passage: small models copy the passage without them.
    # Three styles (a question, a claim, keywords), in this order for every passage.
    (("The Great Barrier Reef, off the coast of Queensland, is the world's largest coral reef system. Rising sea "
      "temperatures have caused repeated mass bleaching events since 1998, killing large parts of its coral."),
     "what causes coral bleaching on the great barrier reef"),
    (("Metformin lowers blood glucose mainly by reducing glucose production in the liver. In a trial of 3,234 adults "
      "with prediabetes, it reduced the incidence of type 2 diabetes by 31% compared with placebo."),
     "metformin lowers the risk of type 2 diabetes in adults with prediabetes"),
    (("The Peace of Westphalia, signed in 1648, ended the Thirty Years' War and established the principle that each "
      "state has sovereignty over its territory and domestic affairs."),
     "peace of westphalia 1648 state sovereignty"),
)
_LABEL = re.compile(r"^\s*\**\s*(?:search\s+)?query\s*\**\s*[:：]\s*\**\s*", re.IGNORECASE)


def check_examples(examples: Sequence[str]) -> list[str]:
    """The operator's example queries, stripped; InvalidInputError unless there are 2 to 8 non-empty ones."""
    kept = [e.strip() for e in examples if e.strip()]
    if kept and not MIN_EXAMPLES <= len(kept) <= MAX_EXAMPLES:
        raise InvalidInputError(f"Give {MIN_EXAMPLES} to {MAX_EXAMPLES} example queries (one a line), not {len(kept)}.")
    if any(len(e.split()) > MAX_QUERY_WORDS for e in kept):
        raise InvalidInputError(f"An example query has more than {MAX_QUERY_WORDS} words: give queries, not passages.")
    return kept


def query_prompt(passage: str) -> str:
    """The user turn that asks for one query about ``passage`` (its first ``PASSAGE_WORDS`` words)."""
    return f"{INSTRUCTION}\n\nPassage: {' '.join(passage.split()[:PASSAGE_WORDS])}"


def demonstration_turns(collection: Collection | None = None, examples: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The (user, assistant) turns before the passage's: the generic demonstrations, or, given the operator's
    example queries, each with the collection's best BM25 passage for it as its passage (Promptagator's few-shot
    prompt, with the passages found rather than given)."""
    if not examples or collection is None:
        return [(query_prompt(passage), query) for passage, query in DEMONSTRATIONS]
    found = collection.search("bm25", list(examples), 1)
    return [(query_prompt(" ".join(indexable_text(hits[0]).split()[:DEMONSTRATION_WORDS])), example)
            for example, hits in zip(examples, found) if hits]


def copied(query: str, passage: str) -> bool:
    """Whether ``query`` is a stretch of ``passage`` (``COPY_WORDS`` words or more, verbatim up to case and
    punctuation): a copy teaches the encoder nothing about how people ask."""
    words = _WORD.findall(query.lower())
    return len(words) >= COPY_WORDS and f" {' '.join(words)} " in f" {' '.join(_WORD.findall(passage.lower()))} "


def clean_query(text: str) -> str:
    """The query in a completion: its first line, without a "Query:" label, list marker or quotes; "" when nothing
    usable is left (empty, or longer than a query)."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    line = _LABEL.sub("", line.strip().lstrip("-*• ").strip())
    line = line.strip().strip('"“”\'`').strip()
    return line if line and len(line.split()) <= MAX_QUERY_WORDS else ""


def generate_queries(passages: Sequence[str], demonstrations: Sequence[tuple[str, str]], model: str | None = None,
                     progress: ProgressCallback | None = None) -> list[str]:
    """One query per passage ("" where the completion held none or copied the passage), in order; cached per model
    and prompt. ``demonstrations``: (user, assistant) turns before each passage's (``demonstration_turns``)."""
    model = model or get_settings().llm_model
    llm = get_llm(model)
    prompts = [llm.chat_prompt(query_prompt(passage), examples=demonstrations) for passage in passages]
    cache = ContentCache(get_settings().data_dir / "cache" / f"synthetic-queries-{model}.sqlite", "queries",
                         ("query",))
    try:
        queries = cached_compute(prompts, cache, lambda batch: [clean_query(t) for t in
                                                                llm.generate_batch(batch, MAX_QUERY_TOKENS)],
                                 to_row=lambda query: (query,), from_row=lambda row: str(row[0]), chunk=16,
                                 progress=progress)
    finally:
        cache.close()
    return ["" if copied(query, passage) else query for query, passage in zip(queries, passages)]
