"""The listwise ranking prompt (RankZephyr/FIRST wording) with bracketed identifiers."""
from __future__ import annotations

SYSTEM = "You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query."


def listwise_user_message(query: str, passages: list[str], labels: list[str]) -> str:
    """User turn: the passages as "[A] text" lines between the task and the output instructions."""
    n = len(passages)
    head = (f"I will provide you with {n} passages, each indicated by an alphabetical identifier []. "
            f"Rank the passages based on their relevance to the search query: {query}.\n\n")
    body = "".join(f"[{label}] {passage}\n" for label, passage in zip(labels, passages))
    example = f"[{labels[1]}] > [{labels[0]}]" if n > 1 else f"[{labels[0]}]"
    tail = (f"\nSearch Query: {query}.\nRank the {n} passages above based on their relevance to the search query. "
            "All the passages should be included and listed using identifiers, in descending order of relevance. "
            f"The output format should be [] > [], e.g., {example}. "
            "Only respond with the ranking results, do not say any word or explain.")
    return head + body + tail
