"""Every LLM reranker's prompt is a ``template`` parameter: the default renders the text used so far (the
shipped adapters' prompt), a custom template changes the prompt, survives to_dict/from_dict and a YAML
pipeline, and a bad one is an InvalidInputError when the component is built."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from haystack import Document, Pipeline

from core.errors import InvalidInputError
from core.llm_backend import get_llm
from rerankers.first import FirstReranker
from rerankers.full_ranking import FullRankingReranker
from rerankers.icr import ICRReranker
from rerankers.icr_prompt import role_markers
from rerankers.listwise_generation import GenerationListwiseReranker
from rerankers.pointwise import PointwiseReranker

MODEL = "smollm2-135m-instruct"
QUERY = "Which organelle produces ATP?"
DOCS = [Document(id="a", content="The mitochondrion produces ATP.", meta={"title": "Cell"}),
        Document(id="b", content="Mount Everest is the highest mountain.")]


def _listwise(reranker: Any) -> str:
    return reranker.prompt(QUERY, DOCS)[0]


def _fullrank(reranker: Any) -> str:
    return reranker.prompt(QUERY, DOCS, ["1", "2"])


def _icr(reranker: Any) -> str:
    markers = role_markers(reranker.llm.tokenizer)
    return reranker.build_prompt(markers, QUERY, reranker.passages(DOCS)).text


def _pointwise(reranker: Any) -> str:
    return reranker.prompt(QUERY, reranker.passages(DOCS)[0])


# component, its prompt for QUERY and DOCS, a custom template, text only the custom prompt has
CASES = {
    "first": (FirstReranker, _listwise, {"prefix": "Order {num} texts for: {query}\n"},
              "Order 2 texts for: Which"),
    "listwise": (GenerationListwiseReranker, _listwise, {"suffix": "Rank them for {query}."},
                 "[B] Mount Everest is the highest mountain.\nRank them for Which organelle"),
    "fullrank": (FullRankingReranker, _fullrank,
                 {"system_message": "You rank.", "body": "({rank}) {candidate}\n"},
                 "<|im_start|>system\nYou rank.<|im_end|>"),
    "icr": (ICRReranker, _icr,
            {"header": " Documents:", "passage": "Doc {number}: {passage}", "query": "Q: {query}"},
            " Documents:\n\nDoc 1: Cell\nThe mitochondrion produces ATP.\n\nDoc 2: Mount Everest"),
    "pointwise": (PointwiseReranker, _pointwise, {"user": "Q: {query}\nP: {passage}\nRelevant? Yes or No."},
                  "Q: Which organelle produces ATP?\nP: Cell The mitochondrion"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_custom_template_changes_the_prompt_and_round_trips(name: str) -> None:
    component, render, template, marker = CASES[name]
    default, custom = component(model=MODEL), component(model=MODEL, template=template)
    assert marker in render(custom) and marker not in render(default)
    data = custom.to_dict()
    assert {k: data["init_parameters"]["template"][k] for k in template} == template
    restored = component.from_dict(data)
    assert restored.to_dict() == data and render(restored) == render(custom)
    pipeline = Pipeline()
    pipeline.add_component("reranker", custom)
    from_yaml = Pipeline.loads(pipeline.dumps(), allowed_modules=["rerankers"]).get_component("reranker")
    assert render(from_yaml) == render(custom)
    assert component.from_dict(default.to_dict()).to_dict() == default.to_dict()


def test_defaults_render_the_text_used_so_far() -> None:
    llm = get_llm(MODEL)
    pointwise = PointwiseReranker(model=MODEL)
    assert pointwise.prompt("q", "p") == llm.chat_prompt(
        "Passage: p\nQuery: q\nDoes the passage answer the query? Answer 'Yes' or 'No'.")
    assert pointwise.answer_token_ids() == (llm.encode("Yes")[0], llm.encode("No")[0])
    icr = _icr(ICRReranker(model=MODEL, reverse_order=False))
    assert icr.startswith("<|im_start|>user\n Here are some paragraphs:\n\n[1] Cell\n"
                          "The mitochondrion produces ATP.")
    assert icr.endswith("in the paragraphs above.\n\nQuery: Which organelle produces ATP?<|im_end|>\n"
                        "<|im_start|>assistant\n")
    first = _listwise(FirstReranker(model=MODEL))
    assert ("alphabetical identifier []. Rank the passages based on their relevance to the search query: "
            "Which organelle produces ATP?.\n[A] Title: Cell Content: The mitochondrion produces ATP.\n"
            "[B] ") in first


def test_icr_document_spans_follow_the_template() -> None:
    icr = ICRReranker(model=MODEL, template={"passage": "Doc {number}: {passage}"})
    tokenizer = icr.llm.tokenizer
    prompt = icr.build_prompt(role_markers(tokenizer), QUERY, icr.passages(DOCS))
    offsets = tokenizer(prompt.text, return_offsets_mapping=True)["offset_mapping"]
    covered = [prompt.text[offsets[start][0]:offsets[end - 1][1]] for start, end in prompt.document_spans]
    assert covered == ["Doc 1: Cell\nThe mitochondrion produces ATP.",
                       "Doc 2: Mount Everest is the highest mountain."]


def test_pointwise_answer_words_are_part_of_the_template() -> None:
    reranker = PointwiseReranker(model=MODEL, template={"yes": "True", "no": "False"})
    assert reranker.answer_token_ids() == (reranker.llm.encode("True")[0], reranker.llm.encode("False")[0])


BAD: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
    (FirstReranker, {"body": "[{rank}]\n"}, "body section must contain {candidate}"),
    (GenerationListwiseReranker, {"prefix": "Rank:\n", "suffix": "Rank them."}, "must contain {query}"),
    (FullRankingReranker, {"prefix": "{count} passages for {query}\n"}, "unknown placeholder {count}"),
    (ICRReranker, {"passage": "[{number}]"}, "passage section must contain {passage}"),
    (ICRReranker, {"query": "Query:"}, "query section must contain {query}"),
    (PointwiseReranker, {"user": "Passage: {passage}\nRelevant?"}, "user section must contain {query}"),
    (PointwiseReranker, {"yes": "No"}, "two different"),
    (PointwiseReranker, {"usr": "{query} {passage}"}, "usr: Extra inputs are not permitted"),
    (ICRReranker, {"header": "Brace { here"}, "not a valid format string"),
    (FirstReranker, "Rank {num} passages", "must map section names"),
]


@pytest.mark.parametrize("component, template, message", BAD)
def test_a_bad_template_is_an_error_when_the_component_is_built(component, template, message: str) -> None:
    with pytest.raises(InvalidInputError, match="prompt template") as error:
        component(model=MODEL, template=template)
    assert message in str(error.value)
