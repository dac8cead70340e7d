"""FIRST / listwise prompts equal rank_llm's own output; rank_llm's windows; the template is a parameter.

``data/rank_llm_prompts.json`` was written by running castorini/rank_llm (1b3cabb) ``RankListwiseOSLLM.
create_prompt`` with ``rank_zephyr_alpha_template.yaml`` on ``data/listwise_input.json`` and the bundled
SmolLM2 tokenizer (see docs/rerankers.md for the command)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError
from rerankers.first import FirstReranker
from rerankers.full_ranking import FullRankingReranker
from rerankers.listwise_generation import GenerationListwiseReranker
from rerankers.sliding_window import windows

MODEL = "smollm2-135m-instruct"
DATA = Path(__file__).parent / "data"
INPUT = json.loads((DATA / "listwise_input.json").read_text())
STORED = json.loads((DATA / "rank_llm_prompts.json").read_text())
DOCS = [Document(id=d["id"], content=d["text"], meta={"title": d["title"]}) for d in INPUT["documents"]]


@pytest.mark.parametrize("case", sorted(STORED))
@pytest.mark.parametrize("component", [FirstReranker, GenerationListwiseReranker])
def test_prompt_equals_rank_llm_output(component: type, case: str) -> None:
    stored = STORED[case]
    reranker = component(model=MODEL, passage_words=stored["passage_words"], context_size=stored["context_size"])
    prompt, _ = reranker.prompt(INPUT["query"], DOCS[stored["start"]:stored["end"]])
    assert prompt == stored["prompt"]
    primed, _ = reranker.prompt(INPUT["query"], DOCS[stored["start"]:stored["end"]], primed=True)
    assert primed == stored["prompt"] + "["


def test_windows_match_rank_llm_for_counts_off_the_stride() -> None:
    assert windows(25, 20, 10) == [(5, 25), (0, 15)]
    assert windows(35, 20, 10) == [(15, 35), (5, 25), (0, 15)]
    assert windows(30, 20, 10) == [(10, 30), (0, 20)]
    assert windows(5, 4, 2) == [(1, 5), (0, 3)]


def test_last_window_is_short_in_a_run() -> None:
    reranker = FirstReranker(model=MODEL, window=4, stride=2, passage_words=10)
    sizes = []
    original = reranker._order_windows

    def recording(jobs):
        sizes.extend(len(documents) for _, documents, _ in jobs)
        return original(jobs)

    reranker._order_windows = recording
    reranker.run(query=INPUT["query"], documents=DOCS)
    assert sizes == [4, 3]


def test_template_is_a_serialized_parameter() -> None:
    custom = {"prefix": "Rank {num} passages for {query}.\n", "suffix": "Query: {query}. Rank them."}
    reranker = FirstReranker(model=MODEL, template=custom, passage_words=5)
    data = reranker.to_dict()
    assert data["init_parameters"]["template"]["prefix"] == custom["prefix"]
    assert data["init_parameters"]["template"]["body"] == "[{rank}] {candidate}\n"  # the default section kept
    restored = FirstReranker.from_dict(data)
    prompt, _ = restored.prompt("q", DOCS[:2])
    # five words, the title's included (rank_llm cuts "Title: … Content: …" as one text)
    assert "Rank 2 passages for q.\n[A] Title: Vitamin D and fractures\n[B] Calcium intake and bone density:\n" \
        "Query: q. Rank them.<|im_end|>" in prompt
    with pytest.raises(InvalidInputError, match="template"):
        FirstReranker(model=MODEL, template={"body": "{candidate}"})
    with pytest.raises(InvalidInputError, match="template"):
        FirstReranker(model=MODEL, template={"prefix": "{unknown}"})


def test_full_ranking_generation_uses_the_authors_prompt() -> None:
    reranker = FullRankingReranker(model=MODEL)
    prompt = reranker.prompt(INPUT["query"], DOCS[:2], ["1", "2"])
    assert "relevancy to the query.<|im_end|>" in prompt
    assert ("each indicated by a numerical identifier []. Rank the passages based on their relevance to the search "
            "query: Does vitamin D (3) reduce \"fracture\" risk in older adults?.\n\n[1] Title: Vitamin D") in prompt
    assert "e.g., [2] > [1], Only respond with the ranking results, do not say any word or explain.<|im_end|>" in prompt
    assert FullRankingReranker(model=MODEL).passage_words == 100
