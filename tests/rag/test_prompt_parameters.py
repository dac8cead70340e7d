"""The compressors', the answer generator's and the dynamic loop's prompts are ``template`` parameters: the
default renders the text used so far, a custom template changes the prompt and round-trips, a bad one is an
InvalidInputError, and request options cannot carry one."""
from __future__ import annotations

import re

import pytest
from haystack import Document

import rag.dynamic.loop as loop
from core.errors import InvalidInputError
from core.llm_backend import get_llm
from rag.answer_formats import EXAMPLE_PASSAGES, find_format
from rag.answer_generator import AnswerGenerator
from rag.compressors.crag_clusters import ClusterCompressor
from rag.compressors.registry import make_compressor
from rag.compressors.summarizer import LLMSummarizer
from rag.compressors.tcra_summary import SummaryCompressor

MODEL = "smollm2-135m-instruct"
QUESTION = "Where is the Eiffel Tower?"
DOCS = [Document(id="a", content="The Eiffel Tower stands in Paris.", meta={"title": "Eiffel Tower"})]
SUMMARY = {"generic": "Shorten to {words} words:\n{text}", "focused": "For {question}, shorten:\n{text}"}


def _summary_prompt(compressor: SummaryCompressor | ClusterCompressor, question: str | None = None) -> str:
    return compressor.summarizer._prompt("Some passage text.", 20, question)


@pytest.mark.parametrize("component", [SummaryCompressor, ClusterCompressor])
def test_summary_templates_change_the_prompt_and_round_trip(component) -> None:
    llm = get_llm(MODEL)
    default, custom = component(MODEL), component(MODEL, template=SUMMARY)
    assert _summary_prompt(default) == llm.chat_prompt(
        "Summarize the passage below in at most 14 words. Keep names, dates and numbers.\n\n"
        "Some passage text.")
    assert _summary_prompt(default, "q?") == llm.chat_prompt(
        "Summarize what the passages below say that helps answer the question, in at most 14 words. Keep "
        "names, dates and numbers.\n\nQuestion: q?\n\nSome passage text.")
    assert _summary_prompt(custom) == llm.chat_prompt("Shorten to 14 words:\nSome passage text.")
    assert _summary_prompt(custom, "q?") == llm.chat_prompt("For q?, shorten:\nSome passage text.")
    data = custom.to_dict()
    assert data["init_parameters"]["template"] == SUMMARY
    restored = component.from_dict(data)
    assert restored.to_dict() == data and _summary_prompt(restored) == _summary_prompt(custom)


def test_a_custom_summary_prompt_does_not_read_the_default_prompts_cache(monkeypatch) -> None:
    def first_word(self, texts, budgets, question, counter):  # what the summarizer's prompt starts with
        return [self.template.generic.split()[0]] * len(texts)

    monkeypatch.setattr(LLMSummarizer, "summarize", first_word)
    long = [Document(id="x", content=" ".join(["word"] * 60))]

    def summary(**template: str) -> str:
        return SummaryCompressor(MODEL, ratio=0.37, template=template).run("q", long)["documents"][0].content

    assert summary() == "Summarize"
    assert summary(generic=SUMMARY["generic"]) == "Shorten"
    assert summary() == "Summarize"


def test_request_options_cannot_carry_a_template() -> None:
    with pytest.raises(InvalidInputError, match="component parameter"):
        make_compressor("tcra-summary", model=MODEL, template=SUMMARY)


@pytest.mark.parametrize("answer_format", ["free", "short"])
def test_answer_template_changes_the_prompt_and_its_demonstrations(answer_format: str) -> None:
    llm = get_llm(MODEL)
    form = find_format(answer_format)
    example = form.examples[0]
    default = AnswerGenerator(MODEL, answer_format=answer_format)
    assert default.prompt(QUESTION, DOCS) == llm.chat_prompt(
        f"Passages:\n[1] Eiffel Tower\nThe Eiffel Tower stands in Paris.\n\nQuestion: {QUESTION}",
        system=form.system,
        examples=[(f"Passages:\n{EXAMPLE_PASSAGES}\n\nQuestion: {example.question}", example.reply)])
    assert default.prompt(QUESTION, []) == llm.chat_prompt(
        f"Question: {QUESTION}", system=form.system_closed_book,
        examples=[(f"Question: {example.question}", re.sub(r"\s*\[\d{1,3}\]", "", example.reply))])
    template = {"system": "Answer from the documents.", "user": "Documents:\n{passages}\nAsked: {question}",
                "user_closed_book": "Asked: {question}"}
    custom = AnswerGenerator(MODEL, answer_format=answer_format, template=template)
    assert custom.prompt(QUESTION, DOCS) == llm.chat_prompt(
        f"Documents:\n[1] Eiffel Tower\nThe Eiffel Tower stands in Paris.\nAsked: {QUESTION}",
        system="Answer from the documents.",
        examples=[(f"Documents:\n{EXAMPLE_PASSAGES}\nAsked: {example.question}", example.reply)])
    assert f"Asked: {QUESTION}" in custom.prompt(QUESTION, [])
    data = custom.to_dict()
    assert data["init_parameters"]["template"] == {**template, "system_closed_book": form.system_closed_book}
    restored = AnswerGenerator.from_dict(data)
    assert restored.to_dict() == data and restored.prompt(QUESTION, DOCS) == custom.prompt(QUESTION, DOCS)


def test_dynamic_loop_template_defaults_to_the_context_prompt(monkeypatch) -> None:
    monkeypatch.setattr(loop, "make_retriever", lambda name, collection: None)
    closed_book = find_format("short").system_closed_book
    default = loop.DynamicAnswerer("none", model=MODEL).template
    assert default.messages(QUESTION, "[1] P") == (closed_book, f"Context:\n[1] P\n\nQuestion: {QUESTION}")
    assert default.messages(QUESTION, None) == (closed_book, f"Question: {QUESTION}")
    notes = {"user": "Notes:\n{passages}\n{question}"}
    custom = loop.DynamicAnswerer("none", model=MODEL, template=notes).template
    assert custom.messages(QUESTION, "[1] P") == (closed_book, f"Notes:\n[1] P\n{QUESTION}")


@pytest.mark.parametrize("build, template, message", [
    (lambda t: SummaryCompressor(MODEL, template=t), {"generic": "Summarize in {words} words."},
     "generic section must contain {text}"),
    (lambda t: ClusterCompressor(MODEL, template=t), {"focused": "Summarize {text}."},
     "focused section must contain {question}"),
    (lambda t: AnswerGenerator(MODEL, template=t), {"user": "Question: {question}"},
     "user section must contain {passages}"),
    (lambda t: AnswerGenerator(MODEL, template=t), {"user_closed_book": "Q: {query}"},
     "unknown placeholder {query}"),
])
def test_a_bad_template_is_an_error_when_the_component_is_built(build, template, message: str) -> None:
    with pytest.raises(InvalidInputError, match="prompt template") as error:
        build(template)
    assert message in str(error.value)
